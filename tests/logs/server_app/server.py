"""The server app: logs Glean server events with the logger glean_parser generated for it.

python server.py GENERATED_DIR [APPLICATION_ID]   (events to stdout, as a server's log)
"""

import json
import sys

sys.path.insert(0, sys.argv[1])

from server_events import create_events_server_event_logger

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"

APP_ID = sys.argv[2] if len(sys.argv) > 2 else "accounts-demo"
logger = create_events_server_event_logger(application_id=APP_ID, app_display_version="2.1.0", channel="production")
logger.record_account_login(user_agent=UA, ip_address="81.2.69.160", user_id_hash="c0ffee", method="password", attempts=2)
print("server started on :8000", flush=True)  # a plain text line in the same log
print(json.dumps({"Timestamp": 1, "Logger": "accounts", "Type": "request.summary", "Fields": {"path": "/"}}), flush=True)
logger.record_account_login(user_agent=UA, ip_address=None, user_id_hash="beef", method="totp", attempts=1)
