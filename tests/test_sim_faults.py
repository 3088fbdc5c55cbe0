"""Fault rules: TOML loading with one-line errors, matching, firing, expiry, payload tampering;
and the sim clock."""

from __future__ import annotations

import json

import pytest

from levtop.sim.clock import SimClock
from levtop.sim.faults import (
    FaultConfigError,
    FaultSet,
    drop_field,
    load_faults_toml,
    malformed,
    rule_from_dict,
    rules_from_document,
    truncate,
    wrong_type,
)


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_clock_runs_speed_times_faster_from_the_start():
    fake = FakeTime()
    clock = SimClock(1_000_000, speed=600.0, monotonic=fake)
    assert clock.now_ms() == 1_000_000
    fake.now += 2.5
    assert clock.now_ms() == 1_000_000 + 1_500_000
    assert clock.real_seconds(600_000) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        SimClock(0, speed=0)


def test_toml_file_loads_every_field(tmp_path):
    path = tmp_path / "faults.toml"
    path.write_text(
        """
[[fault]]
venue = "binance"
route = "/fapi/v1/*"
kind = "status"
status = 429
retry_after_s = 5
probability = 1.0

[[fault]]
venue = "okx"
route = "ws"
kind = "ws_drop"
every_n = 10

[[fault]]
venue = "bybit"
route = "/v5/market/tickers"
kind = "wrong_type"
field = "fundingRate"
duration_s = 30
"""
    )
    rules = load_faults_toml(path)
    assert [(r.venue, r.kind) for r in rules] == [("binance", "status"), ("okx", "ws_drop"), ("bybit", "wrong_type")]
    assert rules[0].status == 429 and rules[0].retry_after_s == 5.0 and rules[0].probability == 1.0
    assert rules[1].every_n == 10 and rules[1].is_ws
    assert rules[2].field == "fundingRate" and rules[2].duration_s == 30.0


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('[[fault]]\nvenue = "kraken"\nroute = "*"\nkind = "refuse"\n', "fault[0].venue"),
        ('[[fault]]\nvenue = "okx"\nroute = "*"\nkind = "explode"\n', "fault[0].kind"),
        ('[[fault]]\nvenue = "okx"\nroute = "*"\nkind = "status"\n', "fault[0].status"),
        ('[[fault]]\nvenue = "okx"\nroute = "*"\nkind = "drop_field"\n', "fault[0].field"),
        ('[[fault]]\nvenue = "okx"\nroute = "*"\nkind = "refuse"\nprobability = 2\n', "fault[0].probability"),
        ('[[fault]]\nvenue = "okx"\nroute = "*"\nkind = "refuse"\nevery_n = 0\n', "fault[0].every_n"),
        ('[[fault]]\nvenue = "okx"\nroute = "*"\nkind = "refuse"\ncolour = "red"\n', "fault[0].colour"),
        ('[[fault]]\nvenue = "okx"\nroute = "/api/*"\nkind = "ws_stall"\n', "fault[0].route"),
        ('[[fault]]\nvenue = "okx"\nkind = "refuse"\n', "fault[0].route"),
        ('[[fault]]\nvenue = "okx"\nroute = "*"\nkind = "delay"\n', "fault[0].delay_s"),
        ('[[fault]]\nvenue = "okx"\nroute = "*"\nkind = "refuse"\nprobability = 0.5\nevery_n = 2\n', "fault[0].every_n"),
        ('faults = 1\n', "unknown top-level key"),
        ('[[fault]\n', "invalid TOML"),
    ],
)
def test_toml_errors_are_one_line_and_name_file_and_key(tmp_path, body, where):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(FaultConfigError) as raised:
        load_faults_toml(path)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert where in message


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(FaultConfigError, match="cannot read"):
        load_faults_toml(tmp_path / "nope.toml")


def test_rules_match_only_their_venue_and_route():
    faults = FaultSet()
    faults.add(rule_from_dict({"venue": "binance", "route": "/fapi/v1/*", "kind": "status", "status": 503}))
    faults.add(rule_from_dict({"venue": "bybit", "route": "ws:allLiquidation.BTC*", "kind": "ws_drop"}))
    assert [r.kind for r in faults.firing_for_request("binance", "/fapi/v1/premiumIndex")] == ["status"]
    assert faults.firing_for_request("binance", "/futures/data/openInterestHist") == []
    assert faults.firing_for_request("okx", "/fapi/v1/premiumIndex") == []
    assert [r.kind for r in faults.firing_for_message("bybit", "allLiquidation.BTCUSDT")] == ["ws_drop"]
    assert faults.firing_for_message("bybit", "allLiquidation.ETHUSDT") == []
    assert faults.firing_for_request("bybit", "allLiquidation.BTCUSDT") == []


def test_every_n_and_probability_fire_as_told_and_deterministically():
    faults = FaultSet(seed=7)
    faults.add(rule_from_dict({"venue": "okx", "route": "*", "kind": "refuse", "every_n": 3}))
    fired = [bool(faults.firing_for_request("okx", "/api/v5/x")) for _ in range(9)]
    assert fired == [False, False, True] * 3

    def pattern(seed: int) -> list[bool]:
        other = FaultSet(seed=seed)
        other.add(rule_from_dict({"venue": "okx", "route": "*", "kind": "refuse", "probability": 0.3}))
        return [bool(other.firing_for_request("okx", "/a")) for _ in range(400)]

    assert pattern(7) == pattern(7)
    assert 60 < sum(pattern(7)) < 180


def test_duration_expires_rules_and_stall_lasts_until_then():
    fake = FakeTime()
    faults = FaultSet(clock=fake)
    faults.add(rule_from_dict({"venue": "okx", "route": "ws", "kind": "ws_stall", "duration_s": 10}))
    assert faults.stalled("okx", "liquidation-orders")
    assert faults.to_json()[0]["expires_in_s"] == 10.0
    fake.now += 10.0
    assert not faults.stalled("okx", "liquidation-orders")
    assert faults.rules() == []


def test_json_round_trip_and_removal():
    faults = FaultSet()
    added = faults.extend(rules_from_document({"fault": [{"venue": "binance", "route": "*", "kind": "delay", "delay_s": 2}]}, "x"))
    document = json.loads(json.dumps(faults.to_json()))
    again = rules_from_document(document, "posted")
    assert again[0].kind == "delay" and again[0].delay_s == 2.0
    assert faults.remove(added[0].id) and not faults.remove(added[0].id)
    assert faults.clear() == 0


def test_payload_tampering():
    payload = {"a": 1, "list": [{"a": "1.5", "b": {"a": True}}]}
    assert drop_field(payload, "a") == {"list": [{"b": {}}]}
    broken = wrong_type(payload, "a")
    assert broken["a"] == "not-a-number"
    assert broken["list"][0]["a"] == {"value": "1.5"}
    assert broken["list"][0]["b"]["a"] == "yes"
    for text in ('{"a":1}', "[1,2]", "3"):
        with pytest.raises(ValueError):
            json.loads(malformed(text))
        with pytest.raises(ValueError):
            json.loads(truncate(text) or "")


def test_empty_list_empties_every_outermost_list_or_only_the_named_one():
    from levtop.sim.faults import empty_lists

    bybit = {"retCode": 0, "result": {"category": "linear", "list": [{"symbol": "BTCUSDT"}]}, "time": 1}
    assert empty_lists(bybit) == {"retCode": 0, "result": {"category": "linear", "list": []}, "time": 1}
    assert empty_lists([[1, 2], [3, 4]]) == []
    assert empty_lists({"data": [{"rows": [1]}], "other": [2]}, "rows") == {"data": [{"rows": []}], "other": [2]}
    assert rule_from_dict({"venue": "okx", "route": "*", "kind": "empty_list"}).kind == "empty_list"
