"""A test process that opens, binds, listens and closes real sockets on
command (one JSON object per line on stdin, one reply per line on stdout).
It prints its pid first. Used by the end-to-end tests."""
import json
import os
import signal
import socket
import sys

socks = {}
children = []


def reply(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def main():
    reply_pid = os.getpid()
    sys.stdout.write("%d\n" % reply_pid)
    sys.stdout.flush()
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        try:
            if op == "open":
                fam = socket.AF_INET6 if cmd.get("family") == "ipv6" else socket.AF_INET
                typ = socket.SOCK_DGRAM if cmd.get("proto") == "udp" else socket.SOCK_STREAM
                s = socket.socket(fam, typ)
                if cmd.get("reuseport"):
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                if cmd.get("reuseaddr"):
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if fam == socket.AF_INET6 and cmd.get("v6only"):
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                socks[cmd["id"]] = s
                if "port" in cmd:
                    s.bind((cmd.get("addr", "::" if fam == socket.AF_INET6 else "0.0.0.0"),
                            cmd["port"]))
                if cmd.get("listen"):
                    s.listen(16)
                port = s.getsockname()[1] if "port" in cmd or cmd.get("listen") else 0
                reply(ok=True, port=port)
            elif op == "listen":
                socks[cmd["id"]].listen(16)
                reply(ok=True, port=socks[cmd["id"]].getsockname()[1])
            elif op == "connect":
                s = socket.create_connection((cmd.get("addr", "127.0.0.1"), cmd["port"]))
                socks[cmd["id"]] = s
                reply(ok=True)
            elif op == "accept":
                conn, _ = socks[cmd["id"]].accept()
                socks[cmd["as"]] = conn
                reply(ok=True)
            elif op == "close":
                socks.pop(cmd["id"]).close()
                reply(ok=True)
            elif op == "fork":
                # The child inherits every socket and just waits to be killed.
                pid = os.fork()
                if pid == 0:
                    signal.pause()
                    os._exit(0)
                children.append(pid)
                reply(ok=True, pid=pid)
            elif op == "killchildren":
                for pid in children:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                children.clear()
                reply(ok=True)
            elif op == "quit":
                for pid in children:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                reply(ok=True)
                return
            else:
                reply(ok=False, error="unknown op " + op)
        except OSError as e:
            reply(ok=False, errno=e.errno, error=str(e))


if __name__ == "__main__":
    main()
