"""``python -m donations.matching INSTANCE.json [-o OUT.json] [--policy NAME]``.

Exit status 0 with the result JSON on stdout (or in OUT); 2 with one line on stderr and nothing
on stdout when the instance is invalid or cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .model import InstanceError
from .solve import POLICIES, gc_paused, solve
from .validate import load_instance


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m donations.matching", description="Allocate pooled supply to open needs."
    )
    parser.add_argument("instance", type=Path, help="instance JSON (contract matching-v1)")
    parser.add_argument("-o", "--output", type=Path, help="write the result here, not stdout")
    parser.add_argument("--policy", choices=POLICIES, default="leximin")
    args = parser.parse_args(argv)
    with gc_paused():  # parsing and writing make as many objects as solving, and no cycles either
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        try:
            text = args.instance.read_bytes()
        except OSError as exc:
            raise InstanceError(f"cannot read {args.instance}: {exc.strerror}") from None
        instance = load_instance(text)
    except InstanceError as exc:
        print(f"invalid instance: {exc}".replace("\n", " "), file=sys.stderr)
        return 2
    output = solve(instance, args.policy).to_json()
    if args.output is None:
        sys.stdout.write(output)
    else:
        args.output.write_text(output, encoding="utf-8")
    return 0
