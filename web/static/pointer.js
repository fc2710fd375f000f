// Touch and pen input for the ImGui canvas. Emscripten's GLFW turns a touch into a mouse press at
// wherever the mouse last was and never moves the cursor with the finger, and the browser would
// scroll or zoom the page under a finger. So touch events on the canvas are stopped before GLFW's
// listeners (capture phase on window) and cancelled, and pointer events of touch and pen go to the
// app instead (app_pointer_js in wasm/app/main_web.cpp), with every coalesced point of a fast stroke.
// The mouse keeps GLFW's path. CSS `touch-action: none` on the canvas does the rest.
function attachPointerInput(canvas, Module) {
  for (const type of ['touchstart', 'touchmove', 'touchend', 'touchcancel']) {
    window.addEventListener(type, (e) => {
      if (e.target !== canvas) return;
      e.preventDefault();  // no scrolling, pinch-zoom, or mouse events emulated after the touch
      e.stopPropagation();
    }, { capture: true, passive: false });
  }
  const send = (e, button) => {
    const r = canvas.getBoundingClientRect();
    const kx = canvas.width / r.width, ky = canvas.height / r.height;
    Module._app_pointer_js(e.pointerType === 'pen' ? 1 : 0, (e.clientX - r.left) * kx, (e.clientY - r.top) * ky, button);
  };
  const mine = (e) => e.pointerType === 'touch' || e.pointerType === 'pen';
  let active = null;  // one finger draws; a second one is ignored rather than joining the stroke
  canvas.addEventListener('pointerdown', (e) => {
    if (!mine(e) || active !== null) return;
    active = e.pointerId;
    canvas.setPointerCapture(e.pointerId);
    e.preventDefault();
    send(e, 1);
  });
  canvas.addEventListener('pointermove', (e) => {
    if (!mine(e) || e.pointerId !== active) return;
    const points = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
    for (const p of points.length ? points : [e]) send(p, -1);
  });
  const end = (e) => {
    if (!mine(e) || e.pointerId !== active) return;
    active = null;
    send(e, 0);
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
}
