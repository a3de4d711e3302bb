"""The benchmark table, in the terminal (rich) and as Markdown for docs/performance.md."""

from __future__ import annotations

from datetime import date


def print_table(rows, extra, machine: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="forward+backward time, as a ratio to torch.nn.LSTM (same size, same run)")
    for col in ("cell", "engine", "T x B x D x H", "median ms", "ratio"):
        table.add_column(col, justify="right" if col in ("median ms", "ratio") else "left")
    for r in rows:
        table.add_row(
            r.cell,
            r.engine,
            f"{r.T}x{r.B}x{r.D}x{r.H}",
            f"{r.median_ms:.2f}",
            f"{r.ratio_to_torch_lstm:.2f}",
        )
    console = Console()
    console.print(table)
    for e in extra:
        console.print(
            f"{e['name']}: {e['median_ms']:.1f} ms per step, "
            f"ratio {e['ratio']:.3f} to {e['baseline']} ({e['baseline_ms']:.1f} ms)"
        )
    console.print(f"[dim]{machine}[/dim]")


def markdown_table(rows, extra, machine: str, command: str) -> str:
    lines = [
        f"Measured {date.today().isoformat()} with `rnnlab {command}` on: {machine}.",
        "",
        "| cell | engine | T x B x D x H | median ms | ratio to torch.nn.LSTM |",
        "|---|---|---|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.cell} | {r.engine} | {r.T}x{r.B}x{r.D}x{r.H} | {r.median_ms:.2f} "
            f"| {r.ratio_to_torch_lstm:.2f} |"
        )
    for e in extra:
        lines += [
            "",
            f"{e['name']}: {e['median_ms']:.1f} ms per step, ratio **{e['ratio']:.3f}** "
            f"to {e['baseline']} ({e['baseline_ms']:.1f} ms), same run.",
        ]
    return "\n".join(lines) + "\n"
