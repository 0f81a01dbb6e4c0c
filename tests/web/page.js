// The test page: Glean.js records a counter, a string and an event with extras, and submits a custom
// ping. ?endpoint=https://... is the edge; ?uploader=fetch takes Glean.js's fetch path (it uses
// fetch as soon as a ping carries custom headers, here a debug view tag), else its default,
// navigator.sendBeacon.
import Glean, { BrowserSendBeaconFallbackUploader } from "@mozilla/glean/web";
import CounterMetricType from "@mozilla/glean/private/metrics/counter";
import StringMetricType from "@mozilla/glean/private/metrics/string";
import EventMetricType from "@mozilla/glean/private/metrics/event";
import PingType from "@mozilla/glean/private/ping";

const params = new URLSearchParams(window.location.search);
const fetchPath = params.get("uploader") === "fetch";
const common = { sendInPings: ["page-visit"], lifetime: "ping", disabled: false };

const pageVisit = new PingType({ name: "page-visit", includeClientId: true, sendIfEmpty: false, reasonCodes: [] });
const visits = new CounterMetricType({ category: "page", name: "visits", ...common });
const theme = new StringMetricType({ category: "page", name: "theme", ...common });
const clicked = new EventMetricType({ category: "page", name: "clicked", ...common }, ["button", "position"]);

Glean.initialize("org.example.weather-web", true, {
  serverEndpoint: params.get("endpoint"),
  ...(fetchPath ? { httpClient: BrowserSendBeaconFallbackUploader } : {}),
});
if (fetchPath) {
  Glean.setDebugViewTag("web-fetch");
}
visits.add(2);
theme.set(params.get("theme") || "dark");
clicked.record({ button: "forecast", position: "3" });
pageVisit.submit();
document.getElementById("status").textContent = "submitted";
