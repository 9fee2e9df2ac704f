-- mod_test_s2s_map: JabberKit's federation tests run several Prosody
-- servers on loopback addresses for domains that have no DNS. This maps
-- each other domain to its server's address, from the config:
--   test_s2s_map = { ["other.test"] = { "127.0.0.3", 15269 } }
-- Outgoing server-to-server connections to a mapped domain skip the DNS
-- lookup; TLS and certificate checks stay as for any other domain.
local basic = require "net.resolvers.basic";

local map = module:get_option("test_s2s_map", {});

module:hook("s2sout-pre-connect", function (event)
	local to = event.session.to_host;
	local target = map[to];
	if target then
		module:log("debug", "connecting to %s at %s:%d (static map)", to, target[1], target[2]);
		event.resolver = basic.new(target[1], target[2], "tcp", {});
	end
end);
