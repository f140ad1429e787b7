// `webhooks.<name>.url`: where a webhook target is POSTed to, as http://host[:port][/path].
// The host is a name (resolved asynchronously when the first connection opens), an IPv4
// address or an IPv6 address in brackets; the port defaults to 80, the path to "/". Only
// http:// for now: https:// is refused at `check` (no TLS client yet), so a secret and the
// bodies never travel unencrypted where the user believes they are protected.
#pragma once

#include <string_view>

#include "config/config.h"
#include "config/units.h"

namespace dispatch::config {

ParseResult<WebhookUrl> parse_webhook_url(std::string_view text);

}  // namespace dispatch::config
