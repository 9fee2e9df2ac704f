-- 010: what a fast reconnect needs. `agent_id` is this installation's
-- XEP-0388 user-agent id (servers tie FAST tokens and the Bind2 resource
-- to it); the token is XEP-0484's, issued after a password login. The
-- token logs in as the account, like the password: it lives here only
-- because the password does too (the app's secure storage holds neither
-- yet); it is never logged.
CREATE TABLE login_agent (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    agent_id    TEXT    NOT NULL,
    fast_mechanism TEXT,
    fast_token  TEXT,
    fast_expiry INTEGER
);
