-- mod_test_push_sink: a stand-in for a XEP-0357 push "app server", so that
-- JabberKit's tests can check what the user's server (mod_cloud_notify)
-- would have pushed to a phone: who published, to which node, with which
-- secret, and the summary (message count, last sender, last body).
--
-- Loaded as a component:
--   Component "push.example.test" "test_push_sink"
--       test_push_sink_file = "/tmp/.../push.jsonl"
-- Every notification (an IQ set with a pubsub <publish node='...'>
-- holding <notification xmlns='urn:xmpp:push:0'>) is answered with a
-- result and appended to that file as one JSON line:
--   {"from": ..., "node": ..., "secret": ... or null, "count": N or null,
--    "sender": ... or null, "body": ... or null, "error": false}
-- A node whose name starts with "fail" is answered with an error instead
-- (and logged with "error": true): so a test can watch the server give up
-- on a push registration after push_max_errors errors.
local json = require "prosody.util.json";
local st = require "prosody.util.stanza";

local file = module:get_option_string("test_push_sink_file");
if not file then
	module:log("error", "test_push_sink_file is not set: notifications are answered but not recorded");
end

-- XEP-0357 §3: an app server is a pubsub service of type "push".
module:depends("disco");
module:add_identity("pubsub", "push", "JabberKit test push sink");

-- The value of field `var` of a jabber:x:data form, or json.null.
local function field(form, var)
	if not form then return json.null; end
	for f in form:childtags("field") do
		if f.attr.var == var then
			return f:get_child_text("value") or json.null;
		end
	end
	return json.null;
end

module:hook("iq-set/host/http://jabber.org/protocol/pubsub:pubsub", function (event)
	local stanza, origin = event.stanza, event.origin;
	local pubsub = stanza.tags[1];
	local publish = pubsub:get_child("publish");
	local notification = publish and publish:find("item/{urn:xmpp:push:0}notification");
	if not notification then
		origin.send(st.error_reply(stanza, "cancel", "feature-not-implemented", "Only XEP-0357 notifications"));
		return true;
	end
	local summary = notification:get_child("x", "jabber:x:data");
	local options = pubsub:get_child("publish-options");
	local node = publish.attr.node;
	local fail = node ~= nil and node:sub(1, 4) == "fail";
	local count = field(summary, "message-count");
	local line = json.encode({
		from = stanza.attr.from or json.null;
		node = node or json.null;
		secret = field(options and options:get_child("x", "jabber:x:data"), "secret");
		count = count ~= json.null and tonumber(count) or json.null;
		sender = field(summary, "last-message-sender");
		body = field(summary, "last-message-body");
		error = fail;
	});
	if file then
		local f, err = io.open(file, "a");
		if f then
			f:write(line, "\n");
			f:close();
		else
			module:log("error", "cannot append to %s: %s", file, err);
		end
	end
	module:log("debug", "push notification: %s", line);
	if fail then
		origin.send(st.error_reply(stanza, "cancel", "item-not-found", "Test push sink: failing node"));
	else
		origin.send(st.reply(stanza));
	end
	return true;
end);
