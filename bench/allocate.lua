-- wrk script: POST one allocation per request (body set by bench/run.sh via env).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("ALLOC_BODY")
