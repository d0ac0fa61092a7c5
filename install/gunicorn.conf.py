"""gunicorn settings for the API in production: ``gunicorn -c install/gunicorn.conf.py 'run:create_app()'``.

Four sync workers on 127.0.0.1:5000 behind nginx (install/nginx-api.conf), access log on stdout (journald under
systemd, see install/mod_api.service). With several workers, point API_RATELIMIT_STORAGE_URI at Redis so the
rate limits are shared. GUNICORN_BIND and GUNICORN_WORKERS override the address and the worker count.
"""
import os

# The checkout root, so the command works from any directory (and under systemd).
chdir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
bind = os.environ.get('GUNICORN_BIND', '127.0.0.1:5000')
workers = int(os.environ.get('GUNICORN_WORKERS', '4'))
worker_class = 'sync'
# Health checks answer within a second and no request is long; a stuck worker is replaced after 30 s.
timeout = 30
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so a slow leak can never grow unbounded.
max_requests = 2000
max_requests_jitter = 200
# Access log to stdout with the request id mod_api sets on every response; errors to stderr.
accesslog = '-'
errorlog = '-'
loglevel = 'info'
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s" request_id=%({x-request-id}o)s'
# Only nginx on this host may set X-Forwarded-Proto; the client address is mod_api's business
# (API_TRUSTED_PROXY_HOPS), not gunicorn's.
forwarded_allow_ips = '127.0.0.1'
proc_name = 'mod_api'
# No runtime control socket (it would go to ~/.gunicorn, which a service account may not be able to write);
# reload with SIGHUP instead (systemctl reload mod_api).
control_socket_disable = True
