"""Policy replay ("backtest a policy"): recorded or synthetic intents through the exact gate.

- ``intents``: JSONL / freqtrade-CSV / database intent streams.
- ``candles``: CSV candles as numpy arrays per symbol.
- ``ledger``: an in-process re-implementation of the Redis ledger scripts (``nurse.ledger``).
- ``policy``: the snapshot to replay against (active, as of a version, or with patches).
- ``sim``: vectorised first-touch exits (the rules of ``nurse.shadow.marking``, in floats).
- ``engine``: the replay loop (gate, ledger, positions, equity, drawdown ladder) and report.
- ``scenario``: a synthetic fleet of simple strategies producing intents from candles.

The Strategist's auditor calls ``nurse.replay.engine.replay_run`` with the same inputs.
"""
