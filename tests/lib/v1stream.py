"""The Mesos v1 scheduler API for the Python test schedulers: calls, SUBSCRIBE, the RecordIO stream."""
import http.client
import json


def call(host, port, body, stream_id, timeout):
    """POSTs one scheduler call; returns the answer's status. Raises OSError or HTTPException."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request("POST", "/api/v1/scheduler", json.dumps(body),
                  {"Content-Type": "application/json", "Mesos-Stream-Id": stream_id})
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def subscribe(host, port, body, timeout):
    """POSTs a SUBSCRIBE; returns the open response (its status, its event stream)."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    c.request("POST", "/api/v1/scheduler", json.dumps(body),
              {"Content-Type": "application/json", "Accept": "application/json"})
    return c.getresponse()


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
