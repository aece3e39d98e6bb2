"""HAProxy's own `log-format` syntax (`%ci:%cp [%tr] %ft %b/%s ... %{+Q}r`), translated into the nginx-style
layout text that logscope compiles (formats/text.py), so `--log-format` takes the string from haproxy.cfg
as it is. The variables are those of the `haproxy_*` layouts in data/text_formats.toml; what logscope does
not read is matched and dropped (`$_name`). Source: HAProxy's doc/configuration.txt, 8.2.6 "Custom log
format" (the table of `%` variables) and 8.2.4 (the `%[...]` sample fetches).
"""

from __future__ import annotations

import re

from ..errors import FormatError

#: HAProxy's log variables -> the layout's variable (`_`: matched, not kept).
VARIABLES = {
    "ci": "remote_addr",
    "cp": "_client_port",
    "fi": "_frontend_ip",
    "fp": "_frontend_port",
    "bi": "_backend_ip",
    "bp": "_backend_port",
    "si": "_server_ip",
    "sp": "_server_port",
    "t": "time_haproxy",
    "tr": "time_haproxy",
    "trl": "time_haproxy",
    "T": "time_local",
    "trg": "time_local",
    "Tl": "time_local",
    "ts": "_termination_state",
    "tsc": "_termination_state",
    "ft": "frontend_tls",
    "f": "_frontend",
    "b": "_backend",
    "s": "_server",
    "TR": "_TR",
    "Th": "_Th",
    "Ti": "_Ti",
    "Tq": "_Tq",
    "Tw": "_Tw",
    "Tc": "_Tc",
    "Tr": "_Tr",
    "Td": "_Td",
    "Ta": "duration_ms_or_unset",
    "Tt": "duration_ms_or_unset",
    "Tu": "_Tu",
    "ST": "status_or_unset",
    "B": "bytes_sent",
    "U": "_bytes_uploaded",
    "CC": "_cc",
    "CS": "_cs",
    "ac": "_ac",
    "fc": "_fc",
    "bc": "_bc",
    "sc": "_sc",
    "rc": "_rc",
    "sq": "_sq",
    "bq": "_bq",
    "r": "request",
    "HM": "request_method",
    "HU": "request_uri",
    "HP": "uri",
    "HPO": "uri",
    "HQ": "_query_with_mark",
    "HV": "server_protocol",
    "ID": "_unique_id",
    "ms": "_ms",
    "pid": "_pid",
    "H": "_hostname",
    "rt": "_request_counter",
    "lc": "_log_counter",
    "rid": "_rid",
    "sslv": "tls_version",
    "sslc": "_cipher",
    "hr": "{$captured_request_headers}",
    "hs": "{$captured_response_headers}",
    "hrl": "$captured_quoted_headers",
    "hsl": "",  # with %hrl: its quoted values are read as one list,
}
#: `%[fetch]` sample expressions logscope reads; any other is matched and dropped.
FETCHES = {
    "ssl_fc": "ssl_fc",
    "req.hdr(user-agent)": "http_user_agent",
    "req.fhdr(user-agent)": "http_user_agent",
    "hdr(user-agent)": "http_user_agent",
    "req.hdr(host)": "host",
    "hdr(host)": "host",
    "req.hdr(x-forwarded-for)": "http_x_forwarded_for",
    "req.hdr(referer)": "http_referer",
    "res.hdr(location)": "sent_http_location",
    "res.hdr(strict-transport-security)": "sent_http_strict_transport_security",
    "ssl_fc_protocol": "tls_version",
    "ssl_fc_sni": "_sni",
}
#: Variables HAProxy writes as text (quoted under `+Q`); numbers and dates never are.
_TEXT = {"ci", "fi", "bi", "si", "ft", "f", "b", "s", "r", "HM", "HU", "HP", "HPO", "HQ", "HV", "ID", "H", "sslv", "sslc", "CC", "CS"}
_DIRECTIVE = re.compile(r"%(?:\{([^}]*)\})?(?:\[([^\]]*)\]|([A-Za-z]+))")
_MARKERS = ("%ci", "%ST", "%tr", "%ft", "%Ta", "%Tt", "%TR", "%hr", "%tsc", "%[", "%CC", "%trg", "%HM")


def is_haproxy_syntax(log_format: str) -> bool:
    return "$" not in log_format and any(m in log_format for m in _MARKERS)


def haproxy_to_nginx(log_format: str) -> str:
    """The layout text for a HAProxy log-format string. `%{+Q}` quotes a field (`%{+Q}o` every text field after it);
    HAProxy's escaped spaces (`\\ `) are spaces."""
    text = log_format.strip().strip('"').replace("\\ ", " ").replace('\\"', '"')
    quote_all = False
    used: dict[str, int] = {}

    def name_once(var: str) -> str:
        # A variable written twice is matched twice; the second is dropped.
        used[var] = used.get(var, 0) + 1
        return var if used[var] == 1 else f"_{var.lstrip('_')}_{used[var]}"

    def repl(m: re.Match[str]) -> str:
        nonlocal quote_all
        flags, fetch, name = m.group(1) or "", m.group(2), m.group(3)
        if name == "o":  # options for every field after it
            quote_all = "+Q" in flags or (quote_all and "-Q" not in flags)
            return ""
        quoted = "+Q" in flags or (quote_all and "-Q" not in flags and (fetch is not None or name in _TEXT))
        if fetch is not None:
            target = FETCHES.get(fetch.strip().lower()) or "_fetch"
            out = "$" + name_once(target)
        elif name in VARIABLES:
            mapped = VARIABLES[name]
            if not mapped:
                return ""
            inner = re.search(r"\$(\w+)", mapped)  # written with its braces: {$captured_request_headers}
            out = mapped.replace("$" + inner.group(1), "$" + name_once(inner.group(1))) if inner else "$" + name_once(mapped)
        else:
            raise FormatError(f"unsupported HAProxy log-format variable %{name} (doc/configuration.txt 8.2.6)")
        return f'"{out}"' if quoted and not out.startswith(("[", "{")) else out

    return _DIRECTIVE.sub(repl, text).strip()
