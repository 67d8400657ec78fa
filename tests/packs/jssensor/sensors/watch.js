// Ticks on every poll, counting through kv; turns "down" reports into
// no_contact triggers and ignores the rest.

import { kv, sensor, trigger } from "drover";

sensor({
  poll(config) {
    const count = Number(kv.get("ticks") ?? 0) + 1;
    kv.set("ticks", String(count));
    return [trigger("jssensor.tick", { count, label: config.label })];
  },

  onMessage(source, payload) {
    if (payload.status !== "down") return [];
    return [trigger("jssensor.no_contact", { node: payload.host, source })];
  },
});
