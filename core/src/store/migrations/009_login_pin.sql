-- 009: the strongest SASL mechanism this account has logged in with
-- (channel binding, hash). A later login that offers less is refused as a
-- downgrade: an attacker who cannot break SCRAM tries to strip it.
CREATE TABLE login_pin (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    mechanism TEXT    NOT NULL
);
