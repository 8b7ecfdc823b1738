"""The Mesos v1 RecordIO event stream of a SUBSCRIBE answer, for the Python test schedulers."""
import json


def events(response):
    """Yields each event (parsed JSON) of an http.client response until the stream ends."""
    while True:
        line = b""
        while not line.endswith(b"\n"):
            ch = response.read(1)
            if not ch:
                return
            line += ch
        yield json.loads(response.read(int(line)))
