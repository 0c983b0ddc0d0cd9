"""The whole service while its broker is killed mid-session and restarted: every rep event arrives,
in order, once after de-duplication, and the tiles are current again after the reconnect."""
import json
import re
import signal
import time

from conftest import Recorder


def test_service_loses_no_rep_while_the_broker_is_down(own_broker, service):
    svc = service("--source", "sim", "--speed", "25", "--seed", "2", on=own_broker)
    sub = Recorder(own_broker, f"{svc.base}/event/#", session=True)   # keeps its queue over the restart
    svc.start()
    sub.wait_for(lambda m: m.topic.endswith("/event/rep"), timeout_s=30)
    own_broker.wait_saved()                    # a killed broker keeps the subscriber's session only once saved
    own_broker.restart(down_s=2.0)             # SIGKILL, 2 s (50 s of workout) down, start again
    back_unix_s = time.time()
    sub.wait_for(lambda m: m.topic.endswith("/event/rep") and json.loads(m.payload)["unix_s"] > back_unix_s + 1,
                 timeout_s=30)                  # reps made after the reconnect flow too
    svc.proc.send_signal(signal.SIGTERM)
    assert svc.wait(20) == 0
    ended = sub.wait_for(lambda m: b'"phase":"ended"' in m.payload)
    queued = [int(n) for n in re.findall(r"connected again; (\d+) queued", svc.log.read_text())]
    assert queued and queued[0] >= 2, "the test should have reps waiting while the broker was down"
    events = [json.loads(m.payload) for m in sub.messages]
    keys = list(dict.fromkeys((e["session_id"], e["seq"]) for e in events))   # de-duplicated, in order
    assert [seq for _, seq in keys] == list(range(1, len(keys) + 1)), "a gap or a reordering"
    (folder,) = svc.sessions()
    recorded = [line for line in (folder / "reps.csv").read_text().splitlines()[1:] if line]
    reps = {(e["set_index"], e["rep_in_set"]) for e in events if e["kind"] == "rep"}
    assert len(reps) == len(recorded) == json.loads(ended.payload)["summary"]["totals"]["reps"]
    assert "lost the broker" in svc.log.read_text()
    tiles = Recorder(own_broker, f"{svc.base}/value/session")
    assert tiles.topic(f"{svc.base}/value/session").payload == b"stopped"
    tiles.close()
    sub.close()
