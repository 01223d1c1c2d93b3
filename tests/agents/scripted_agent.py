"""A test agent that does exactly what the sensor tests expect, when told to.

It blocks on stdin so the test can attach first, then on "go" performs one
of each monitored act and prints DONE; it then waits for stdin to close.
Arguments: the marker file to open, then three loopback ports (udp-sendto,
udp-sendmsg, tcp).
"""

import os
import socket
import sys
import time

path, p_sendto, p_sendmsg, p_tcp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sys.stdin.readline()

pid = os.fork()
if pid == 0:
    os.execv("/bin/true", ["/bin/true", "h7-marker-arg"])
os.waitpid(pid, 0)

with open(path, "rb") as f:
    f.read()

u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"ping", ("127.0.0.1", p_sendto))
u.sendmsg([b"hello ", b"world"], [], 0, ("127.0.0.1", p_sendmsg))
u.close()

t = socket.create_connection(("127.0.0.1", p_tcp), timeout=5)
t.send(b"over-tcp")
t.close()

print("DONE", flush=True)
sys.stdin.readline()
time.sleep(0.05)
