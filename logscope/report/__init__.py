"""What the operator reads: the JSON report (json_report.py, the spec's layout), the HTML page (html_report.py),
the terminal summary and the check's answer (terminal.py), and before/after comparisons (compare.py).
Each one reads an Analysis (or a check's result) and writes; none of them decides anything."""
