"""CPU cost of the Nurse's tracing hooks: Gate.prepare + finish, before and after them.

Not part of ``make bench`` (the name does not start with ``bench_``); run it after
``bench_nurse.py`` has seeded the bench namespace (policy snapshot, exchange filters):

    .venv/bin/python bench/ops_tracing_overhead.py [--n 4096] [--rounds 7]

Variants, each timed as ``time.process_time`` per intent over the same intents, rounds
interleaved, median of the rounds:
1. ``before``: the current ``nurse/gate.py`` with the tracing hooks taken out;
2. ``off``: the current gate with tracing off (the default: ``gate.tracer is None``);
3. ``on, sampled``: tracing on, every intent sampled, one span per intent + a child per
   rule, ended as the runner ends it (exporter: a discarding one, so this is the SDK's and
   our cost, not the network's; the real export runs on the batch processor's thread);
4. ``on, sampled, no rule spans`` (``CIO_OTEL_RULE_SPANS=false``);
5. ``on, unsampled``: the intent's parent says not sampled (non-recording spans).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import types
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cio_site.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cio_bench")
os.environ.setdefault("CIO_LOG_FORMAT", "text")

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
from nurse_workload import Workload  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import (  # noqa: E402
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

from cio_site.telemetry import IntentTracer, PresetIdGenerator  # noqa: E402
from nurse.gate import Gate  # noqa: E402
from nurse.policy import CompiledPolicy, exchange_filters_from_info  # noqa: E402


class Discard(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def _gate_loaded(source: str, name: str) -> Any:
    """A gate module built from source text, loaded the same way for every variant that
    uses this (an import and an exec of the same code can differ by a few percent)."""
    module = types.ModuleType(name)
    module.__file__ = name
    sys.modules[name] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102  (our own code)
    return module.Gate


# The tracing hooks, as added to nurse/gate.py; removing them gives the gate "before".
_HOOKS: list[tuple[str, str]] = [
    ("""            _identify_rejected(pending, raw)
            if self.tracer is not None:
                self.tracer.begin(pending, header_traceparent)
            return pending
""", """            _identify_rejected(pending, raw)
            return pending
"""),
    ("""        if self.tracer is not None:
            # The span takes the ids of ``tp``: what is published equals the span context.
            self.tracer.begin(pending, parent)
""", ""),
    ("""            if self.tracer is not None and pending.span is not None:
                self.tracer.run_rules(pending.span, RULES, ctx)  # child span per rule
            else:
                for rule in RULES:
                    rule.fn(ctx)
""", """            for rule in RULES:
                rule.fn(ctx)
"""),
    ("""    span: Any = None  # the intent's OTel span, only while tracing is on
""", ""),
]


def _gate_before() -> Any:
    """The current nurse/gate.py minus the tracing hooks (everything else identical)."""
    source = (ROOT / "nurse" / "gate.py").read_text()
    for hook, plain in _HOOKS:
        if source.count(hook) != 1:
            sys.exit(f"tracing hook not found in nurse/gate.py (edited?): {hook[:60]!r}")
        source = source.replace(hook, plain)
    return _gate_loaded(source, "nurse_gate_before")




def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    r = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    snap, info = r.get("bench:policy:snapshot"), r.get("bench:exchange_info")
    if snap is None or info is None:
        sys.exit("run bench/bench_nurse.py first (it seeds the bench namespace)")
    filters = exchange_filters_from_info(json.loads(info))
    workload = Workload("ops", 1)
    stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")

    ids = PresetIdGenerator()
    provider = TracerProvider(id_generator=ids)
    provider.add_span_processor(BatchSpanProcessor(Discard(), max_queue_size=1 << 16))
    tracer = provider.get_tracer("bench")
    sampled_tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    unsampled_tp = sampled_tp[:-2] + "00"

    def make(gate_cls: Any, intent_tracer: IntentTracer | None) -> Any:
        gate = gate_cls(instance="bench")
        gate.budget_s = 1e9
        gate.set_policy(CompiledPolicy.from_json(snap))
        gate.set_exchange(filters)
        if intent_tracer is not None:
            gate.tracer = intent_tracer
        return gate

    before_cls = _gate_before()
    variants: dict[str, tuple[Any, str | None]] = {
        "before (no hooks)": (make(before_cls, None), sampled_tp),
        "off (default)": (make(Gate, None), sampled_tp),
        "off, loaded like before": (make(_gate_loaded((ROOT / "nurse" / "gate.py").read_text(),
                                                      "nurse_gate_now"), None), sampled_tp),
        "on, sampled": (make(Gate, IntentTracer(tracer, ids, rule_spans=True)), sampled_tp),
        "on, sampled, no rule spans": (make(Gate, IntentTracer(tracer, ids, rule_spans=False)),
                                       sampled_tp),
        "on, unsampled": (make(Gate, IntentTracer(tracer, ids, rule_spans=True)),
                          unsampled_tp),
    }
    results: dict[str, list[float]] = {name: [] for name in variants}
    counter = 0

    def run(gate: Any, header: str | None) -> float:
        nonlocal counter
        bodies = [workload.build(counter + i, stamp)[1] for i in range(args.n)]
        counter += args.n
        now = time.time()
        end: Callable[[Any, Any], None] | None = getattr(gate.tracer, "end", None) \
            if getattr(gate, "tracer", None) is not None else None
        t0 = time.process_time()
        for body in bodies:
            pending = gate.prepare(body, header_traceparent=header, received=now)
            verdict = gate.finish(pending, ("OK", ""), now=now)
            if end is not None:
                end(pending, verdict)
        return (time.process_time() - t0) / args.n * 1e6

    for gate, header in variants.values():  # warm-up
        run(gate, header)
    names = list(variants)
    for round_no in range(args.rounds):
        # Rotate the order each round so no variant always runs first (cache, frequency).
        for name in names[round_no % len(names):] + names[:round_no % len(names)]:
            gate, header = variants[name]
            results[name].append(run(gate, header))
    provider.shutdown()
    base = statistics.median(results["before (no hooks)"])
    base_min = min(results["before (no hooks)"])
    print(f"Gate.prepare + finish, CPU us per intent, median of {args.rounds} rounds x "
          f"{args.n} intents ({os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
    for name, values in results.items():
        med = statistics.median(values)
        print(f"  {name:30s} median {med:7.2f} us ({med - base:+7.2f} us, "
              f"{(med / base - 1) * 100:+6.1f}%)  min {min(values):7.2f} us "
              f"({min(values) - base_min:+7.2f} us)")


if __name__ == "__main__":
    main()
