"""parse_command on random payloads (hypothesis): whatever arrives, it returns a valid Command or
raises its own CommandError with a one-line message, never anything else (a RecursionError or a
TypeError there would reach paho's network thread)."""
import json

from hypothesis import example, given, settings
from hypothesis import strategies as st

from firmware_bridge.mqtt import topics as tp

T = tp.Topics("fuzz", "dev")
TOPICS = st.sampled_from([T.command(), *(T.command(n) for n in tp.COMMANDS), T.command("bogus")])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    | st.sampled_from([*tp.COMMANDS, *tp.SIDES]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["cmd", "id", "side", "x"]) | st.text(max_size=5), inner, max_size=4),
    max_leaves=20)
BRACKETS = st.text(alphabet='[]{}",:\\ 0a', max_size=1100)


def check(topic: str, payload: bytes) -> None:
    try:
        cmd = tp.parse_command(topic, payload, T)
    except tp.CommandError as e:
        assert str(e) and "\n" not in str(e) and len(str(e)) < 200
        return
    assert cmd.name in tp.COMMANDS
    assert cmd.side in (None, *tp.SIDES) and (cmd.side is None) == (cmd.name != "side")
    assert cmd.id is None or (isinstance(cmd.id, str) and len(cmd.id) <= tp.MAX_ID_CHARS)


@settings(max_examples=300, deadline=None)
@given(TOPICS, st.binary(max_size=1100))
def test_random_bytes(topic, payload):
    check(topic, payload)


@settings(max_examples=300, deadline=None)
@given(TOPICS, JSON_VALUES)
def test_random_json(topic, value):
    check(topic, json.dumps(value).encode())


@settings(max_examples=300, deadline=None)
@given(TOPICS, BRACKETS)
def test_random_brackets_and_quotes(topic, text):
    check(topic, text.encode())


@settings(max_examples=100, deadline=None)
@given(TOPICS, st.integers(min_value=0, max_value=1000), BRACKETS)
def test_deep_prefix_then_anything(topic, depth, tail):
    check(topic, ("[" * depth + tail).encode()[:1024])


@given(st.integers(min_value=1, max_value=1024), st.sampled_from("[{"))
@example(1000, "[")          # the tester's payload
@example(1024, "{")
def test_deep_nesting_is_refused_before_parsing(depth, bracket):
    payload = (bracket * depth).encode()
    try:
        tp.parse_command(T.command(), payload, T)
    except tp.CommandError:
        return
    raise AssertionError("unclosed brackets cannot be a command")


def test_nesting_is_refused_even_with_little_stack_left():
    """The depth check runs before json.loads, so ``[`` x 1000 is a CommandError however deep the
    caller's stack already is (paho's thread has less room than a test; hypothesis raises the limit)."""
    import inspect
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 300)
    try:
        for payload in (b"[" * 1000, b'{"cmd":"start","id":' + b"[" * 500 + b"]" * 500 + b"}"):
            try:
                tp.parse_command(T.command(), payload, T)
            except tp.CommandError as e:
                assert "nested" in str(e)
            else:
                raise AssertionError("accepted")
    finally:
        sys.setrecursionlimit(limit)
