/**
 * Patterns in router options: a glob (`*haiku*`, `claude-?-5`) or a regular expression written
 * between slashes with optional flags (`/^gpt-4(o|\.1)/i`). Globs match the whole value and ignore
 * case. A value shaped like a path (`/v1/messages`) is a glob: it is only a regular expression when
 * what follows the last slash is a valid set of flags.
 */
export type Matcher = (value: string) => boolean;

export class PatternError extends Error {}

export function matcher(pattern: string): Matcher {
  const regex = /^\/(.+)\/([a-z]*)$/.exec(pattern);
  if (regex && /^(?!.*(.).*\1)[dimsuv]*$/.test(regex[2].replace(/[gy]/g, ''))) {
    // g and y would make test() stateful (lastIndex): every other request would miss.
    const flags = regex[2].replace(/[gy]/g, '');
    let re: RegExp;
    try {
      re = new RegExp(regex[1], flags);
    } catch (err) {
      throw new PatternError(`"${pattern}" is not a valid regular expression: ${(err as Error).message}`);
    }
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
