"""A throwaway certificate authority for one lab run: a CA and one server certificate for every address.

Made with the `openssl` command-line tool (on every Debian machine), so nothing here is hand-rolled
cryptography. The CA's key never leaves the run's directory; clients are told to trust the CA file.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from .processes import LabError


@dataclass(frozen=True)
class Pki:
    ca: Path  # PEM certificate clients trust
    cert: Path  # the servers' certificate (PEM), valid for every lab address
    key: Path  # its key (PEM, unencrypted)
    truststore: Path  # the CA as a PKCS#12 trust store, for Java (password "changeit")


def _openssl(*args: str, cwd: Path) -> None:
    _run(["openssl", *args], cwd)


def _run(argv: list[str], cwd: Path) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise LabError(f"{argv[0]} {argv[1]} failed: {(done.stderr or done.stdout).strip()[-300:]}")


def make_pki(directory: Path, addresses: list[str]) -> Pki:
    """A CA and one certificate whose subjectAltName lists every address (IP SANs), in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=logscope lab CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )
    sans = ",".join([f"IP:{a}" for a in addresses] + ["DNS:localhost"])
    (directory / "server.ext").write_text(
        f"subjectAltName={sans}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=logscope lab server",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        cwd=directory,
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
        cwd=directory,
    )
    _run(
        [
            "keytool",
            "-importcert",
            "-noprompt",
            "-alias",
            "labca",
            "-file",
            "ca.pem",
            "-keystore",
            "truststore.p12",
            "-storetype",
            "PKCS12",
            "-storepass",
            "changeit",
        ],
        directory,
    )
    for private in ("ca.key", "server.key"):
        (directory / private).chmod(0o644 if private == "server.key" else 0o600)  # workers that drop root read the server key
    return Pki(directory / "ca.pem", directory / "server.pem", directory / "server.key", directory / "truststore.p12")
