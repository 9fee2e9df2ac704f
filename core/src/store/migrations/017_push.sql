-- 017: push notifications (XEP-0357). The app server our server notifies
-- while this device sleeps, as the app registered it: enabled again on
-- every fresh session (the server may have dropped it after errors), and
-- a registration the app replaced or turned off is disabled on the server
-- before it is forgotten here.
CREATE TABLE push_registrations (
    service TEXT NOT NULL,
    node TEXT NOT NULL,
    -- Sent with every notification (publish-options), as the app server
    -- asked; never logged.
    secret TEXT,
    -- 1: enable it; 0: disable it, then forget it.
    wanted INTEGER NOT NULL CHECK (wanted IN (0, 1)),
    PRIMARY KEY (service, node)
);
