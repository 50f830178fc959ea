"""gunicorn settings for the leaderboard behind nginx (deploy/nginx-site.conf), read with

    gunicorn --config deploy/gunicorn.conf.py 'leaderboard:create_app()'

gunicorn reads whole requests in its worker threads, so a client that sends slowly holds a
thread: never expose it directly. nginx in front reads each request completely (it holds
thousands of slow connections cheaply) before it passes it on over loopback.
"""

bind = "127.0.0.1:8000"  # loopback only: nginx is the one that faces the network
worker_class = "gthread"  # threads share a worker's answer key and database pool
workers = 2  # processes; about one per core, each holds the answer key in memory
threads = 4
timeout = 120  # a worker silent this long (scoring a 50 MB upload takes seconds) is restarted
graceful_timeout = 30
keepalive = 5  # seconds an idle connection from nginx stays open
# Request limits well above what the app needs (its headers, a token, a cookie).
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
forwarded_allow_ips = "127.0.0.1"  # only nginx on loopback may set X-Forwarded-*
accesslog = "-"
