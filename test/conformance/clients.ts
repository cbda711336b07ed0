/**
 * The two client dialects as the official SDKs speak them, reduced to what the conformance matrix
 * compares: the assembled answer (text, reasoning, tool calls, stop reason, usage) or the error.
 * Requests are described once, neutrally, and written in each client's own shape.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

export type ClientDialect = 'anthropic' | 'openai';

export interface Answer {
  text: string;
  reasoning: string;
  /** The signature a client would echo with its reasoning (Anthropic clients only). */
  signature?: string;
  toolCalls: Array<{ id: string; name: string; input: unknown }>;
  stop: string;
  usage: { input: number; output: number; cacheRead: number };
}

export interface Failure {
  status?: number;
  /** The error type the client saw, in its own dialect's words. */
  type: string;
  message: string;
}

export type Turn =
  | { role: 'user'; text: string; image?: { mediaType: string; data: string } }
  | { role: 'assistant'; text?: string; reasoning?: string; signature?: string; toolCalls?: Array<{ id: string; name: string; input: unknown }> }
  | { role: 'tool'; id: string; content: string };

export interface Ask {
  turns: Turn[];
  stream: boolean;
  tools?: Array<{ name: string; description: string; parameters: Record<string, unknown> }>;
}

export interface Client {
  dialect: ClientDialect;
  ask(url: string, ask: Ask): Promise<Answer>;
  fail(url: string, ask: Ask): Promise<Failure>;
}

const weatherTool = { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] };
export const tools = [
  { name: 'get_weather', description: 'Current weather for a place.', parameters: weatherTool },
  { name: 'get_time', description: 'Current time for a place.', parameters: weatherTool },
];

const stopNames: Record<string, string> = { stop: 'end_turn', tool_calls: 'tool_use', length: 'max_tokens', content_filter: 'refusal' };

export const anthropicClient: Client = {
  dialect: 'anthropic',
  async ask(url, ask) {
    const client = new Anthropic({ baseURL: url, apiKey: 'client-key', maxRetries: 0 });
    const params = anthropicParams(ask);
    const message = ask.stream ? await client.messages.stream(params).finalMessage() : await client.messages.create({ ...params, stream: false });
    let text = '';
    let reasoning = '';
    let signature: string | undefined;
    const toolCalls: Answer['toolCalls'] = [];
    for (const block of message.content) {
      if (block.type === 'text') text += block.text;
      else if (block.type === 'thinking') {
        reasoning += block.thinking;
        signature = block.signature;
      } else if (block.type === 'tool_use') toolCalls.push({ id: block.id, name: block.name, input: block.input });
    }
    return {
      text,
      reasoning,
      ...(signature !== undefined ? { signature } : {}),
      toolCalls,
      stop: String(message.stop_reason),
      usage: { input: message.usage.input_tokens, output: message.usage.output_tokens, cacheRead: message.usage.cache_read_input_tokens ?? 0 },
    };
  },
  async fail(url, ask) {
    try {
      await anthropicClient.ask(url, ask);
    } catch (err) {
      const e = err as { status?: number; error?: { error?: { type?: string; message?: string } }; message: string };
      return { status: e.status, type: e.error?.error?.type ?? 'unknown', message: e.error?.error?.message ?? e.message };
    }
    throw new Error('the request succeeded');
  },
};

function anthropicParams(ask: Ask): Anthropic.MessageCreateParamsNonStreaming {
  const messages: Anthropic.MessageParam[] = [];
  for (const turn of ask.turns) {
    if (turn.role === 'user') {
      const content: Anthropic.ContentBlockParam[] = [{ type: 'text', text: turn.text }];
      if (turn.image) content.push({ type: 'image', source: { type: 'base64', media_type: turn.image.mediaType as 'image/png', data: turn.image.data } });
      messages.push({ role: 'user', content });
    } else if (turn.role === 'assistant') {
      const content: Anthropic.ContentBlockParam[] = [];
      if (turn.reasoning !== undefined) content.push({ type: 'thinking', thinking: turn.reasoning, signature: turn.signature ?? '' });
      if (turn.text) content.push({ type: 'text', text: turn.text });
      for (const call of turn.toolCalls ?? []) content.push({ type: 'tool_use', id: call.id, name: call.name, input: call.input });
      messages.push({ role: 'assistant', content });
    } else {
      messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: turn.id, content: turn.content }] });
    }
  }
  return {
    model: 'claude-sonnet-4-6',
    max_tokens: 1024,
    messages,
    ...(ask.tools ? { tools: ask.tools.map((t) => ({ name: t.name, description: t.description, input_schema: t.parameters as Anthropic.Tool.InputSchema })) } : {}),
  };
}

export const openaiClient: Client = {
  dialect: 'openai',
  async ask(url, ask) {
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'client-key', maxRetries: 0 });
    const params = openaiParams(ask);
    let completion: OpenAI.ChatCompletion;
    let reasoning = '';
    if (ask.stream) {
      // The SDK's stream helper assembles content and tool calls; reasoning_content is read beside it.
      const runner = client.chat.completions.stream({ ...params, stream: true, stream_options: { include_usage: true } });
      runner.on('chunk', (chunk) => {
        const delta = chunk.choices[0]?.delta as { reasoning_content?: string } | undefined;
        reasoning += delta?.reasoning_content ?? '';
      });
      completion = await runner.finalChatCompletion();
    } else {
      completion = await client.chat.completions.create(params);
      reasoning = (completion.choices[0].message as { reasoning_content?: string }).reasoning_content ?? '';
    }
    const choice = completion.choices[0];
    const cached = completion.usage?.prompt_tokens_details?.cached_tokens ?? 0;
    return {
      text: choice.message.content ?? '',
      reasoning,
      toolCalls: (choice.message.tool_calls ?? []).map((c) => ({ id: c.id, name: c.type === 'function' ? c.function.name : '', input: c.type === 'function' ? JSON.parse(c.function.arguments || '{}') : {} })),
      stop: stopNames[choice.finish_reason] ?? choice.finish_reason,
      usage: { input: (completion.usage?.prompt_tokens ?? 0) - cached, output: completion.usage?.completion_tokens ?? 0, cacheRead: cached },
    };
  },
  async fail(url, ask) {
    try {
      await openaiClient.ask(url, ask);
    } catch (err) {
      const e = err as { status?: number; type?: string; error?: { type?: string; message?: string }; message: string };
      return { status: e.status, type: e.type ?? e.error?.type ?? 'unknown', message: e.error?.message ?? e.message };
    }
    throw new Error('the request succeeded');
  },
};

function openaiParams(ask: Ask): OpenAI.ChatCompletionCreateParamsNonStreaming {
  const messages: OpenAI.ChatCompletionMessageParam[] = [];
  for (const turn of ask.turns) {
    if (turn.role === 'user') {
      messages.push(
        turn.image
          ? { role: 'user', content: [{ type: 'text', text: turn.text }, { type: 'image_url', image_url: { url: `data:${turn.image.mediaType};base64,${turn.image.data}` } }] }
          : { role: 'user', content: turn.text },
      );
    } else if (turn.role === 'assistant') {
      const message: OpenAI.ChatCompletionAssistantMessageParam & { reasoning_content?: string } = { role: 'assistant', content: turn.text ?? null };
      if (turn.reasoning !== undefined) message.reasoning_content = turn.reasoning;
      if (turn.toolCalls?.length) message.tool_calls = turn.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: JSON.stringify(c.input) } }));
      messages.push(message);
    } else {
      messages.push({ role: 'tool', tool_call_id: turn.id, content: turn.content });
    }
  }
  return {
    model: 'gpt-4o',
    messages,
    ...(ask.tools ? { tools: ask.tools.map((t) => ({ type: 'function' as const, function: { name: t.name, description: t.description, parameters: t.parameters } })) } : {}),
  };
}

export const clients: Client[] = [anthropicClient, openaiClient];
