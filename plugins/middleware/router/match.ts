/**
 * Patterns in router options: a glob (`*haiku*`, `claude-?-5`) or a regular expression written
 * between slashes (`/^gpt-4(o|\.1)/i`). Globs match the whole value and ignore case.
 */
export type Matcher = (value: string) => boolean;

export function matcher(pattern: string): Matcher {
  const regex = /^\/(.+)\/([a-z]*)$/.exec(pattern);
  if (regex) {
    const re = new RegExp(regex[1], regex[2]);
    return (value) => re.test(value);
  }
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$', 'i');
  return (value) => re.test(value);
}

/** One matcher for a pattern or a list of them (any may match). */
export function anyOf(patterns: string | string[]): Matcher {
  const all = (Array.isArray(patterns) ? patterns : [patterns]).map(matcher);
  return (value) => all.some((m) => m(value));
}
