"""The web servers in front of the MCP servers: nginx, Caddy, Apache httpd and HAProxy from Debian's
packages, each configured from the templates beside this file.

`<server>/main.*.j2` is the server's whole configuration (log layouts, TLS) and includes one block per
case, rendered from `<server>/cases/<template>.j2`. A case template writes the directive under test
as `{{ fix or "<broken directive>" }}`: the fixed run puts the fix snippet from logscope's
data/fixes.toml there (lab.fixes), so the lab verifies the very text logscope prints. A case without a
template for a server is not run on it (HAProxy has the redirect, replica, slash and HSTS cases).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from ..pki import Pki
from ..processes import LabError, Processes, Started

SERVERS = ("nginx", "caddy", "apache", "haproxy")
HERE = Path(__file__).resolve().parent
MAIN = {"nginx": "main.conf.j2", "caddy": "main.Caddyfile.j2", "apache": "main.conf.j2", "haproxy": "main.cfg.j2"}
PROGRAMS = {"nginx": "nginx", "caddy": "caddy", "apache": "apache2", "haproxy": "haproxy"}
#: The access-log layouts each server writes for every case (file names under logs/<server>/<case>/).
LOG_FORMATS = {
    "nginx": ("nginx-combined", "nginx-custom", "nginx-json"),
    "caddy": ("caddy-json",),
    "apache": ("apache-combined", "apache-custom"),
    "haproxy": ("haproxy-httplog",),
}


def has_case(server: str, template: str) -> bool:
    """Whether the server has a configuration for the case (its template, or the one it borrows)."""
    return (HERE / server / "cases" / f"{template}.j2").is_file()


@dataclass
class ServerSetup:
    server: str
    run_dir: Path  # configuration, pid and error logs
    logs: Path  # access logs, one folder per case
    pki: Pki
    stream_timeout: float
    fixed: bool

    def __post_init__(self) -> None:
        if shutil.which(PROGRAMS[self.server]) is None and not Path(f"/usr/sbin/{PROGRAMS[self.server]}").exists():
            raise LabError(f"{PROGRAMS[self.server]} is not installed (apt-get install nginx caddy apache2)")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / self.server), undefined=jinja2.StrictUndefined, keep_trailing_newline=True
        )

    def render_case(self, case: Any, host: str, backends: list[str]) -> str:
        from ..fixes import fix_snippet

        logs = self.logs / case.name
        logs.mkdir(parents=True, exist_ok=True)
        fix = fix_snippet(case.fix, self.server, host, backends) if self.fixed and case.fix else None
        return self.env.get_template(f"cases/{case.template}.j2").render(
            host=host,
            logs=logs,
            backend=backends[0],
            backends=backends,
            key=host.replace(".", "_"),
            stream_timeout=self.stream_timeout,
            fix=fix,
            pki=self.pki,
            case=case.name,
        )

    def start(self, procs: Processes, blocks: list[str]) -> Started:
        if self.server == "haproxy":  # HAProxy reads the certificate and its key from one file
            (self.pki.cert.parent / "haproxy.pem").write_text(self.pki.cert.read_text() + self.pki.key.read_text())
        config = self.run_dir / MAIN[self.server].removesuffix(".j2")
        config.write_text(self.env.get_template(MAIN[self.server]).render(cases=blocks, run=self.run_dir, pki=self.pki))
        check, argv, env = self._commands(config)
        done = subprocess.run(check, capture_output=True, text=True, env={**os.environ, **env})
        if done.returncode:
            raise LabError(f"{self.server} refuses the lab configuration {config}: {(done.stderr or done.stdout).strip()[-400:]}")
        return procs.start(f"server-{self.server}", argv, env=env)

    def _commands(self, config: Path) -> tuple[list[str], list[str], dict[str, str]]:
        if self.server == "nginx":
            for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
                (self.run_dir / temp).mkdir(exist_ok=True)
                (self.run_dir / temp).chmod(0o777)
            base = ["nginx", "-p", str(self.run_dir), "-c", str(config)]
            return [*base, "-t"], [*base, "-g", "daemon off;"], {}
        if self.server == "caddy":
            home = self.run_dir / "home"
            env = {"HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config")}
            return (
                ["caddy", "validate", "--config", str(config), "--adapter", "caddyfile"],
                ["caddy", "run", "--config", str(config), "--adapter", "caddyfile"],
                env,
            )
        if self.server == "haproxy":
            return ["haproxy", "-c", "-q", "-f", str(config)], ["haproxy", "-db", "-f", str(config)], {}
        base = ["apache2", "-f", str(config)]
        return [*base, "-t"], [*base, "-DFOREGROUND"], {}

    def collect_logs(self, started: Started, cases: list[str]) -> None:
        """HAProxy logs to standard output: each line goes to the log of the case its frontend is named after
        (requests, TLS errors, a frontend's start and stop). Other servers write their own files."""
        if self.server != "haproxy":
            return
        frontend = re.compile(r"\b(" + "|".join(re.escape(c) for c in sorted(cases, key=len, reverse=True)) + r")_https?\b")
        lines: dict[str, list[str]] = {c: [] for c in cases}
        for line in started.log.read_text(errors="replace").splitlines():
            found = frontend.search(line)
            if found:
                lines[found.group(1)].append(line + "\n")
        for case, text in lines.items():
            (self.logs / case / "haproxy-httplog.log").write_text("".join(text))
