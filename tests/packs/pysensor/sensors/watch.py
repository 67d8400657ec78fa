"""Ticks on every poll, counting through kv; turns "down" reports into
no_contact triggers and ignores the rest."""

from drover import kv, sensor, trigger


@sensor
class Watch:
    def poll(self, config):
        count = int(kv.get("ticks") or 0) + 1
        kv.set("ticks", str(count))
        return [trigger("pysensor.tick", {"count": count, "label": config["label"]})]

    def on_message(self, source, payload):
        if payload.get("status") != "down":
            return []
        return [trigger("pysensor.no_contact", {"node": payload["host"], "source": source})]
