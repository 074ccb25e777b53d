// A content item's file name comes from the catalogue, i.e. from someone else. Before it names
// a file in the user's directory it must be one plain name: no directory parts, no control
// characters (which could rewrite the terminal when printed), not hidden, not empty.

const MAX_NAME_BYTES = 255;

export function safeFileName(name: string, fallback: string): string {
  let safe = name.replace(/[/\\\u0000-\u001f\u007f-\u009f]/g, '_').trim();
  safe = safe.replace(/^\.+/, (dots) => '_'.repeat(dots.length));
  while (Buffer.byteLength(safe) > MAX_NAME_BYTES) safe = Array.from(safe).slice(0, -1).join('');
  if (safe === '' || /^_+$/.test(safe)) return fallback;
  return safe;
}
