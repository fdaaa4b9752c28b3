// Drives the demo shop in headless Chromium (a few clicks, a route change, an error, leaving
// the page), then reads the dashboard and prints what it shows.
import { startDemoServer } from "./demo-server.mjs";
import { chromium } from "playwright-core";

const server = await startDemoServer(0);
const origin = `http://127.0.0.1:${server.address().port}`;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});
try {
  const page = await browser.newPage();
  await page.goto(origin + "/");
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("session"));
  await page.click("button.add >> nth=0");
  await page.click("button.add >> nth=2");
  await page.click("a[data-route='/cart']");
  await page.click("#boom");
  await page.waitForTimeout(200);
  await page.goto(origin + "/dashboard.html"); // pagehide flushes the shop's last batch
  await page.waitForFunction(() => /\d+ events/.test(document.getElementById("updated").textContent) && !document.getElementById("errors").textContent.includes("none yet"), null, { timeout: 10000 });
  for (const id of ["types", "vitals", "clicks", "errors"]) {
    const rows = await page.$$eval(`#${id} tr`, (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent).join(" | ")));
    console.log(`\n${id}:\n  ` + rows.join("\n  "));
  }
  await page.screenshot({ path: "www/dashboard.png", fullPage: true });
  console.log("\nscreenshot: www/dashboard.png");
} finally {
  await browser.close();
  server.close();
}
