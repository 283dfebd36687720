-- wrk: every request a POST of a 64 KiB body (the echo workload, Benchmarks/run.py).
wrk.method = "POST"
wrk.body = string.rep("x", 65536)
wrk.headers["Content-Type"] = "application/octet-stream"
