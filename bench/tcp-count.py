#!/usr/bin/env python3
"""TCP forwarder for bench/publish-bench.sh: listens on 127.0.0.1:PORT, forwards
each connection to 127.0.0.1:TARGET and counts the bytes sent each way, as they
pass (not when a connection closes: clients keep connections open across the
commands the benchmark measures). Every 50 ms when something moved, COUNTS is
replaced by "UP DOWN": the totals so far of bytes client -> server and
server -> client (requests with their bodies, responses).

    tcp-count.py PORT TARGET COUNTS
"""
import os
import socket
import sys
import threading
import time

port, target, counts = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
total = [0, 0]
dirty = [False]


def save():
    with open(counts + ".tmp", "w") as f:
        f.write(f"{total[0]} {total[1]}\n")
    os.replace(counts + ".tmp", counts)


def saver():
    while True:
        time.sleep(0.05)
        with lock:
            if dirty[0]:
                save()
                dirty[0] = False


def pump(src, dst, way):
    try:
        while True:
            b = src.recv(256 * 1024)
            if not b:
                break
            dst.sendall(b)
            with lock:
                total[way] += len(b)
                dirty[0] = True
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def handle(client):
    try:
        server = socket.create_connection(("127.0.0.1", target))
    except OSError:
        client.close()
        return
    for s in (client, server):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    back = threading.Thread(target=pump, args=(server, client, 1))
    back.start()
    pump(client, server, 0)
    back.join()
    client.close()
    server.close()


save()
threading.Thread(target=saver, daemon=True).start()
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port))
listener.listen(256)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
