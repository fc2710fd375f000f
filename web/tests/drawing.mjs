// Digits drawn the way a person draws them: mouse drags on the pad that window.app.drawingRect()
// reports, in pad-relative coordinates (0..1), at the pad's real size.
import assert from 'node:assert/strict';

// Strokes in pad-relative coordinates (0..1), drawn as real mouse drags.
export const DIGITS = {
  1: [[[0.52, 0.18], [0.5, 0.5], [0.48, 0.82]]],
  0: [Array.from({ length: 41 }, (_, i) => {
    const a = (i / 40) * 2 * Math.PI;
    return [0.5 + 0.2 * Math.sin(a), 0.5 - 0.3 * Math.cos(a)];
  })],
  7: [[[0.28, 0.22], [0.72, 0.22], [0.58, 0.5], [0.45, 0.82]]],
};

export async function draw(page, strokes) {
  const r = await page.evaluate(() => window.app.drawingRect());
  assert.ok(r && r.width > 100, `drawing pad should be laid out, got ${JSON.stringify(r)}`);
  for (const stroke of strokes) {
    const at = ([u, v]) => [r.x + u * r.width, r.y + v * r.height];
    await page.mouse.move(...at(stroke[0]));
    await page.mouse.down();
    for (let i = 1; i < stroke.length; i++) {
      const [x0, y0] = at(stroke[i - 1]), [x1, y1] = at(stroke[i]);
      const steps = Math.max(1, Math.round(Math.hypot(x1 - x0, y1 - y0) / 20));
      for (let k = 1; k <= steps; k++) {
        await page.mouse.move(x0 + ((x1 - x0) * k) / steps, y0 + ((y1 - y0) * k) / steps);
        await page.waitForTimeout(4);
      }
    }
    await page.mouse.up();
  }
  await page.waitForTimeout(100);
}

// Draws each digit of `digits` (e.g. '107') and labels it with its number key: one sample each.
export async function addSamples(page, digits) {
  for (const digit of digits) {
    await draw(page, DIGITS[digit]);
    await page.keyboard.press(digit);
    await page.waitForTimeout(50);
  }
}

// Clicks a named control (window.app.controlRect) with the mouse, in its middle.
export async function click(page, name) {
  const r = await page.evaluate((n) => window.app.controlRect(n), name);
  assert.ok(r, `control ${name} should be on screen`);
  await page.mouse.click(r.x + r.width / 2, r.y + r.height / 2);
  await page.waitForTimeout(100);
}

// One finger along a stroke in pad-relative coordinates, as touchStart/touchMove/touchEnd.
export async function fingerStroke(cdp, rect, stroke) {
  const at = ([u, v]) => ({ x: rect.x + u * rect.width, y: rect.y + v * rect.height });
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [at(stroke[0])] });
  for (let i = 1; i < stroke.length; i++) {
    const a = at(stroke[i - 1]), b = at(stroke[i]);
    const steps = Math.max(1, Math.round(Math.hypot(b.x - a.x, b.y - a.y) / 20));
    for (let k = 1; k <= steps; k++) {
      const p = { x: a.x + ((b.x - a.x) * k) / steps, y: a.y + ((b.y - a.y) * k) / steps };
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [p] });
      await new Promise((r) => setTimeout(r, 4));
    }
  }
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  await new Promise((r) => setTimeout(r, 100));
}

export async function tap(cdp, rect) {
  const p = { x: rect.x + rect.width / 2, y: rect.y + rect.height / 2 };
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [p] });
  await new Promise((r) => setTimeout(r, 50));
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  await new Promise((r) => setTimeout(r, 100));
}
