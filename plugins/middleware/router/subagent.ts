/**
 * Subagent routing: a Claude Code subagent's prompt may carry `<router-model>provider/model</router-model>`
 * (or `<CCR-SUBAGENT-MODEL>…</CCR-SUBAGENT-MODEL>`, which claude-code-router users already write)
 * in a system block or in the first user message. The first tag picks the route; every tag in those
 * places is removed before the request goes upstream (tags elsewhere are left alone: a later
 * message may quote one).
 *
 * Found with indexOf, not a backtracking regex, so a hostile body (an opening tag followed by
 * thousands of spaces and no closing tag) costs linear time.
 */
import type { CanonicalRequest, TextPart } from 'router-kernel';

const names = ['router-model', 'ccr-subagent-model'];
/** The longest target a tag may hold; anything longer is not a tag. */
const maxTarget = 200;

/**
 * Cheap test on the raw body before any parsing: most requests carry no tag at all. Both tag names
 * end in "-model>"; JSON may escape `>` as \u003e. Casings other than lower and upper case are
 * found once the body is parsed for another reason, not by this test. Each marker starts with a
 * character that is rare in prose: Buffer#includes skips to candidates by their first byte, so
 * "-model>" scans a 470 KB body in ~5 µs where "odel>" took ~250 µs.
 */
export const tagMarkers = ['-model>', '-MODEL>', '-model\\u003e', '-MODEL\\u003e'];

interface Found {
  start: number;
  end: number;
  target: string;
}

/** Every tag in `text`, in order. */
function findTags(text: string): Found[] {
  const lower = text.toLowerCase();
  const out: Found[] = [];
  for (let from = 0; ; ) {
    const open = lower.indexOf('<', from);
    if (open === -1) return out;
    const name = names.find((n) => lower.startsWith(n + '>', open + 1));
    if (!name) {
      from = open + 1;
      continue;
    }
    const bodyStart = open + name.length + 2;
    const close = lower.indexOf(`</${name}>`, bodyStart);
    if (close === -1 || close - bodyStart > maxTarget) {
      from = open + 1;
      continue;
    }
    out.push({ start: open, end: close + name.length + 3, target: text.slice(bodyStart, close).trim() });
    from = close + name.length + 3;
  }
}

/**
 * Removes every tag from the system blocks and the first user message and returns the first tag's
 * target. Parts left empty are dropped (providers refuse empty text blocks), and a message left
 * empty with them; were that the only message, it is kept as it was, tag included. Messages and
 * parts are never edited, only replaced: they may be shared with other requests (element-memo.ts).
 */
export function takeSubagentTag(request: CanonicalRequest): string | undefined {
  let target: string | undefined;
  const strip = (part: TextPart): TextPart => {
    const tags = findTags(part.text);
    if (tags.length === 0) return part;
    target ??= tags[0].target;
    let text = '';
    let at = 0;
    for (const tag of tags) {
      text += part.text.slice(at, tag.start);
      at = tag.end;
    }
    return { ...part, text: (text + part.text.slice(at)).replace(/^\s+/, '') };
  };
  let changed = false;
  const system = request.system.map(strip);
  if (system.some((part, i) => part !== request.system[i])) {
    changed = true;
    request.system = system.filter((part) => part.text !== '');
  }
  const index = request.messages.findIndex((m) => m.role === 'user');
  if (index !== -1) {
    const message = request.messages[index];
    const content = message.content.map((part) => (part.type === 'text' ? strip(part) : part));
    if (content.some((part, i) => part !== message.content[i])) {
      changed = true;
      const kept = content.filter((part) => part.type !== 'text' || part.text !== '');
      const messages = [...request.messages];
      if (kept.length > 0) messages[index] = { ...message, content: kept };
      else messages.splice(index, 1);
      if (messages.length > 0) request.messages = messages;
    }
  }
  return changed ? target : undefined;
}
