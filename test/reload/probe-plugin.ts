/** Source of a local TypeScript plugin that records its lifecycle, for reload tests. */
export const probePluginSource = `
import { definePlugin, type MiddlewareInstance } from 'router-kernel';

interface ProbeOptions { tag: string; fail?: 'create' | 'provision' | 'validate' }
const events: string[] = ((globalThis as any).__rkEvents ??= []);

export default definePlugin<ProbeOptions, MiddlewareInstance>({
  id: 'middleware.probe',
  kind: 'middleware',
  version: '1.0.0',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['tag'],
    properties: { tag: { type: 'string' }, fail: { enum: ['create', 'provision', 'validate'] } },
  },
  create(options, scope) {
    const state = (scope.inherited as { count: number } | undefined) ?? { count: 0 };
    events.push('create ' + options.tag);
    if (options.fail === 'create') throw new Error('cannot create ' + options.tag);
    return {
      provision() {
        events.push('provision ' + options.tag);
        if (options.fail === 'provision') throw new Error('cannot start ' + options.tag);
      },
      validate() {
        if (options.fail === 'validate') throw new Error('invalid ' + options.tag);
      },
      handover() {
        events.push('handover ' + options.tag);
        return state;
      },
      cleanup() {
        events.push('cleanup ' + options.tag);
      },
      async handle(ctx, next) {
        state.count++;
        await next();
        ctx.setHeader('x-probe-' + options.tag, String(state.count));
      },
    };
  },
});
`;

export function events(): string[] {
  return ((globalThis as any).__rkEvents ??= []) as string[];
}

export function resetEvents(): void {
  events().length = 0;
}
