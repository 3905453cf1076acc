"""`capsexplorer routers`: every router trained alike, side by side — the shipped figures, or measured again."""
from __future__ import annotations

import json

from capsexplorer.cli.common import _targets
from capsexplorer.errors import CapsExplorerError

def table_text(table: dict) -> str:
    """The table as aligned text, one router a line ("—": not measured for that router)."""
    from capsexplorer.analysis.router_comparison import FIGURES, figure_text

    rows = [["router", "weights"] + [heading for _, heading, _ in FIGURES]]
    for row in table["routers"]:
        rows.append([str(row["name"]), str(row.get("weights", "—"))] + [figure_text(row, key) for key, _, _ in FIGURES])
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if k < 2 else cell.rjust(w) for k, (cell, w) in enumerate(zip(r, widths)))
             for r in rows]
    notes = [f"trained alike: {table.get('recipe', '—')}", f"two digits: {table.get('pairs_recipe', '—')}",
             "test: MNIST's 10,000 official test digits; drawn, rotations and shifts: held-out digits redrawn as on "
             "the canvas / turned / moved; 2 digits: held-out pairs both right; own strokes: a pair's strokes given "
             "to their own digit's capsule; from even: how far the active capsules' couplings sit from an even split (1/J)",
             f"measured on {table.get('machine', '—')}" + (f" in {table['seconds']:.0f} s" if isinstance(
                 table.get("seconds"), (int, float)) else "")]
    return "\n".join(lines + [""] + notes)


def cmd_routers(args) -> int:
    from capsexplorer.analysis import router_comparison

    _targets(args, {"out": ".json"})
    if getattr(args, "weights", None):
        raise CapsExplorerError("routers compares the shipped model of every router; it reads no --weights "
                                "(open one with --weights mnist-attention …)")
    if args.measure:
        from capsexplorer.cli.lab_commands import _StderrProgress

        table = router_comparison.measure(device=args.device, progress=_StderrProgress("measuring", delay=2.0))
    else:
        table = router_comparison.shipped_table()
        if table is None:
            raise CapsExplorerError("no readable router figures ship with this copy (resources/routers.json); "
                                    "measure them: capsexplorer routers --measure")
    if args.out:
        from capsexplorer.files import atomic_write

        with atomic_write(args.out) as handle:
            handle.write((json.dumps(table, indent=1, allow_nan=False) + "\n").encode())
    print(json.dumps(table, allow_nan=False) if args.json else table_text(table), flush=True)
    return 0
