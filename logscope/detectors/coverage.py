"""What the logs cannot show: name the field to add instead of guessing (an `info` finding)."""

from __future__ import annotations

from . import Context, Finding, detector

# canonical column -> (nginx variable, why logscope wants it)
WANTED = {
    "scheme": ("$scheme", "whether each request came over HTTP or HTTPS (otherwise inferred from redirects, or unknown)"),
    "location": ("$sent_http_location", "where redirects send clients (otherwise inferred from the next request)"),
    "hsts": ("$sent_http_strict_transport_security", "the HSTS checks"),
    "duration_s": ("$request_time", "cut SSE streams, and placing long streams at their start"),
}
NGINX_FORMAT = (
    "log_format mcp '$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent '\n"
    '               \'"$http_referer" "$http_user_agent" $request_time $scheme \'\n'
    '               \'"$sent_http_location" "$sent_http_strict_transport_security"\';\n'
    "access_log /var/log/nginx/access.log mcp;"
)
FIX = {
    "nginx": NGINX_FORMAT,
    "caddy": "# Caddy's JSON access log records all of these; use `log { format json }` rather than a custom format.",
    "traefik": (
        "accessLog:\n  format: json\n  fields:\n    defaultMode: keep\n    headers:\n      names:\n"
        "        User-Agent: keep\n        Location: keep\n        Strict-Transport-Security: keep"
    ),
    "apache": (
        'LogFormat "%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-Agent}i\\" %D %{SSL_PROTOCOL}x '
        '\\"%{Location}o\\" \\"%{Strict-Transport-Security}o\\"" mcp\nCustomLog ${APACHE_LOG_DIR}/access.log mcp'
    ),
}


@detector
def log_field_missing(ctx: Context) -> list[Finding]:
    missing = [(col, var, why) for col, (var, why) in WANTED.items() if not ctx.logs(col)]
    if not missing:
        return []
    inferred = ctx.flows.server.evidence == "inferred"
    parts = [f"{var} ({why})" for _, var, why in missing]
    detail = "The access log does not record " + "; ".join(parts) + ". Add them to the log format to make these checks exact."
    if inferred:
        detail += " HTTP/HTTPS was inferred from the redirects the log shows."
    return [
        Finding(
            code="log-field-missing",
            severity="info",
            title="Log format lacks " + ", ".join(var for _, var, _ in missing),
            detail=detail,
            clients=[],
            count=len(missing),
            first_seen=None,
            last_seen=None,
            fix=dict(FIX),
        )
    ]
