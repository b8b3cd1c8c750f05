// The compose box of the web page: a textarea where Enter sends and Shift+Enter starts a new
// line (so do pasted line breaks, kept as they are), growing with its text up to MAX_LINES and
// scrolling beyond.

const MAX_LINES = 6;

// `box` is the textarea, `send()` sends what it holds.
export function composeBox(box, send) {
  function grow() {
    box.style.height = 'auto';
    const style = getComputedStyle(box);
    const line = parseFloat(style.lineHeight) || 20;
    const frame = box.offsetHeight - box.clientHeight; // borders
    const pad = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
    const max = MAX_LINES * line + pad + frame;
    const want = box.scrollHeight + frame;
    box.style.height = Math.min(want, max) + 'px';
    box.style.overflowY = want > max ? 'auto' : 'hidden';
  }
  box.addEventListener('input', grow);
  box.addEventListener('keydown', (e) => {
    // While an input method composes a character, Enter belongs to it.
    if (e.key !== 'Enter' || e.shiftKey || e.altKey || e.ctrlKey || e.metaKey || e.isComposing) return;
    e.preventDefault();
    send();
  });
  return {
    grow,
    // Empties the box (the message went into the outbox) and shrinks it back.
    clear() { box.value = ''; grow(); },
  };
}
