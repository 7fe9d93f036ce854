"""berth's benchmarks: berth side by side with its peers (containerd, ctr).

``python -m bench.run [NAME...] [--quick] [--json FILE]``; see README.md.
Each ``bench_<name>.py`` module exposes ``run(ctx) -> list[Row]``.
"""
