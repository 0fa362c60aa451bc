"""PolicyProposal: property tests for the contract and the parser's stable codes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from strategist.contracts import (
    LLM_INVALID_JSON,
    LLM_SCHEMA_INVALID,
    PolicyProposal,
    ProposalInvalid,
    proposal_parse,
)
from tests.strategist.conftest import VALID_TRACE, proposal

scopes = st.sampled_from(["global", "symbol:BTCUSDT", "symbol_side:ETHUSDT:SHORT",
                          "strategy:momentum-1"])


@given(scope=scopes, confidence=st.floats(min_value=0, max_value=1),
       value=st.integers(min_value=1, max_value=125))
def test_valid_proposals_round_trip(scope: str, confidence: float, value: int) -> None:
    text = proposal(confidence=confidence, patches=[{"scope": scope,
                                                     "patch": {"leverage": value}}])
    parsed = proposal_parse(text)
    assert parsed.patches[0].scope == scope
    assert PolicyProposal.model_validate_json(parsed.model_dump_json()) == parsed


@given(st.text(max_size=200))
def test_garbage_never_crashes_the_parser(text: str) -> None:
    codes: list[str] = []
    try:
        proposal_parse(text)
    except ProposalInvalid as exc:
        codes.append(exc.code)
    assert set(codes) <= {LLM_INVALID_JSON, LLM_SCHEMA_INVALID}


@given(confidence=st.one_of(st.floats(max_value=-0.001), st.floats(min_value=1.001)))
def test_confidence_out_of_range(confidence: float) -> None:
    with pytest.raises(ProposalInvalid) as err:
        proposal_parse(json.dumps({"summary": "x", "thought_trace": "t",
                                   "confidence": confidence}))
    assert err.value.code in (LLM_SCHEMA_INVALID, LLM_INVALID_JSON)


def test_fenced_answers_extra_fields_and_short_traces() -> None:
    assert proposal_parse("Sure!\n```json\n" + proposal() + "\n```\nDone.").confidence == 0.7
    with pytest.raises(ProposalInvalid) as err:
        proposal_parse(proposal(secret_plan="moon"))
    assert err.value.code == LLM_SCHEMA_INVALID
    with pytest.raises(ProposalInvalid):
        proposal_parse(proposal(thought_trace="too short to justify a change"))
    assert proposal_parse(proposal(thought_trace="calm", patches=[])).is_empty
    with pytest.raises(ValidationError):
        PolicyProposal(summary="x", thought_trace=VALID_TRACE, confidence=0.5,
                       patches=[{"scope": "global"}])  # neither patch nor unset
    with pytest.raises(ValidationError):
        PolicyProposal(summary="x", thought_trace=VALID_TRACE, confidence=0.5,
                       state_changes=[{"scope": "symbol_side:BTCUSDT:LONG",
                                       "state": "HALTED"}])
