/**
 * Subagent routing: a Claude Code subagent's prompt may carry `<router-model>provider/model</router-model>`
 * (or `<CCR-SUBAGENT-MODEL>…</CCR-SUBAGENT-MODEL>`, which claude-code-router users already write),
 * tag names in any letter case, in a system block (the top-level system prompt, or a `role: "system"`
 * message anywhere in the conversation, which Claude Code sends as `messages[1]`) or in the first
 * user message. The first tag picks the route; every tag in those places is removed before the
 * request goes upstream (tags elsewhere are left alone: a later message may quote one).
 *
 * Found with indexOf and comparisons of a few characters, never a backtracking regex or a search
 * to the end of the text per candidate, so a hostile body (opening tags followed by thousands of
 * spaces and no closing tag) costs linear time.
 */
import type { CanonicalRequest, Message, TextPart } from 'router-kernel';

const names = ['router-model', 'ccr-subagent-model'];
/** The longest target a tag may hold; anything longer is not a tag. */
const maxTarget = 200;

const dashM = [Buffer.from('-m'), Buffer.from('-M')];

/**
 * Cheap test on the raw body before any parsing: most requests carry no tag at all. Both tag names
 * end in "-model>", in any letter case; JSON may escape `>` as \u003e (no JSON encoder escapes
 * ASCII letters). `-` is rare in prose and Buffer#indexOf skips between candidates by their first
 * byte, so this scans a 470 KB body in ~10 µs. Every tag `takeSubagentTag` finds passes this test.
 */
export function mayHoldTag(body: Buffer): boolean {
  for (const needle of dashM) {
    for (let at = body.indexOf(needle); at !== -1; at = body.indexOf(needle, at + 2)) if (isOdelClose(body, at + 2)) return true;
  }
  return false;
}

/** `odel>` (or `odel\u003e`) in any letter case at `at`. */
function isOdelClose(b: Buffer, at: number): boolean {
  // `| 0x20` folds an ASCII capital onto its small letter, and no other byte onto these.
  if ((b[at] | 0x20) !== 0x6f || (b[at + 1] | 0x20) !== 0x64 || (b[at + 2] | 0x20) !== 0x65 || (b[at + 3] | 0x20) !== 0x6c) return false;
  if (b[at + 4] === 0x3e) return true;
  return b[at + 4] === 0x5c && b[at + 5] === 0x75 && b[at + 6] === 0x30 && b[at + 7] === 0x30 && b[at + 8] === 0x33 && (b[at + 9] | 0x20) === 0x65;
}

interface Found {
  start: number;
  end: number;
  target: string;
}

/** Whether `text` holds `lower` (lower-case ASCII) at `at`, in any letter case. */
function holdsAt(text: string, at: number, lower: string): boolean {
  return text.slice(at, at + lower.length).toLowerCase() === lower;
}

/** Every tag in `text`, in order. */
function findTags(text: string): Found[] {
  const out: Found[] = [];
  // Where closing tags may start, found once: looking for the next one from every opening tag
  // would scan to the end of the text each time, quadratic with many unclosed tags.
  let closings: number[] | undefined;
  let next = 0;
  for (let from = 0; ; ) {
    const open = text.indexOf('<', from);
    if (open === -1) return out;
    const name = names.find((n) => holdsAt(text, open + 1, n + '>'));
    if (!name) {
      from = open + 1;
      continue;
    }
    const bodyStart = open + name.length + 2;
    closings ??= positionsOf(text, '</');
    while (next < closings.length && closings[next] < bodyStart) next++;
    let close = -1;
    for (let i = next; i < closings.length && closings[i] - bodyStart <= maxTarget; i++) {
      if (holdsAt(text, closings[i] + 2, name + '>')) {
        close = closings[i];
        break;
      }
    }
    if (close === -1) {
      from = open + 1;
      continue;
    }
    out.push({ start: open, end: close + name.length + 3, target: text.slice(bodyStart, close).trim() });
    from = close + name.length + 3;
  }
}

function positionsOf(text: string, needle: string): number[] {
  const out: number[] = [];
  for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + needle.length)) out.push(at);
  return out;
}

/**
 * Removes every tag from the system blocks (the top-level system prompt and every `role: "system"`
 * message) and the first user message, and returns the first tag's target. Parts left empty are
 * dropped (providers refuse empty text blocks), and a message left empty with them; were every
 * message left empty, the messages are kept as they were, tags included. Messages and parts are
 * never edited, only replaced: they may be shared with other requests (element-memo.ts).
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
  const firstUser = request.messages.findIndex((m) => m.role === 'user');
  let messagesChanged = false;
  const messages: Message[] = [];
  request.messages.forEach((message, index) => {
    if (message.role !== 'system' && index !== firstUser) {
      messages.push(message);
      return;
    }
    const content = message.content.map((part) => (part.type === 'text' ? strip(part) : part));
    if (!content.some((part, i) => part !== message.content[i])) {
      messages.push(message);
      return;
    }
    messagesChanged = true;
    const kept = content.filter((part) => part.type !== 'text' || part.text !== '');
    if (kept.length > 0) messages.push({ ...message, content: kept });
  });
  if (messagesChanged) {
    changed = true;
    if (messages.length > 0) request.messages = messages;
  }
  return changed ? target : undefined;
}
