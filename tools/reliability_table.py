"""Render the fault tests' result files (var/reliability/*.json, written by tests/chaos) as a
Markdown table, and optionally put it into a file between the markers

    <!-- reliability:start -->
    <!-- reliability:end -->

replacing whatever was there (the README's reliability section is made this way, from the last
run, never typed by hand).

    python tools/reliability_table.py                    # print the table
    python tools/reliability_table.py --write README.md  # replace it between the markers
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START = "<!-- reliability:start -->"
END = "<!-- reliability:end -->"
COLUMNS = ("Fault", "Times", "Checked", "Result", "Run")


def load(results: Path) -> list[dict]:
    """Every result file in the directory, in name order; a file that is not a result (no
    `fault`) is an error, not silently left out."""
    rows = []
    for path in sorted(results.glob("*.json")):
        data = json.loads(path.read_text())
        missing = [k for k in ("fault", "times", "checked", "result") if k not in data]
        if missing:
            raise SystemExit(f"{path}: not a result file (no {', '.join(missing)})")
        rows.append(data)
    return rows


def _cell(value: object) -> str:
    if isinstance(value, list):
        value = "; ".join(str(v) for v in value)
    text = str(value).replace("\r", " ").replace("\n", " ")
    return text.replace("|", "\\|")


def table(rows: list[dict]) -> str:
    """The Markdown table (one row per result file)."""
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for r in rows:
        cells = [r["fault"], r["times"], r["checked"], r["result"], r.get("run_at", "")]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if not rows:
        lines.append("| (no results: run `make test` or `make chaos`) | | | | |")
    return "\n".join(lines) + "\n"


def replace_between_markers(text: str, block: str) -> str:
    """`text` with everything between the markers replaced by `block` (markers kept)."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < 0 or end < start:
        raise SystemExit(f"markers not found in order: {START} ... {END}")
    head = text[: start + len(START)]
    return head + "\n" + block + text[end:]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Render var/reliability/*.json (the fault tests' results) as a Markdown "
        "table; with --write, put it into a file between "
        f"'{START}' and '{END}'.",
    )
    p.add_argument(
        "--results",
        type=Path,
        default=ROOT / "var" / "reliability",
        help="directory of result files (default: var/reliability)",
    )
    p.add_argument(
        "--write",
        type=Path,
        metavar="FILE",
        help="replace the text between the markers in FILE (e.g. README.md) instead of printing",
    )
    args = p.parse_args(argv)
    block = table(load(args.results))
    if args.write is None:
        sys.stdout.write(block)
        return 0
    text = args.write.read_text()
    new = replace_between_markers(text, block)
    if new != text:
        args.write.write_text(new)
    print(f"{args.write}: reliability table, {block.count(chr(10)) - 2} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
