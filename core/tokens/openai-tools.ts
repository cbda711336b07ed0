/**
 * Tool definitions as OpenAI's chat models read them. OpenAI does not put the JSON schema in the
 * prompt: each function becomes a TypeScript-like type inside a `functions` namespace, which is
 * what `prompt_tokens` bills (the format was worked out publicly by comparing counts; our
 * calibration test checks it against recorded usage). Counting the JSON schema instead would
 * overstate a tool-heavy request by about a third.
 *
 *   // Get the current weather in a given location
 *   type get_weather = (_: {
 *   // The city and state, e.g. San Francisco, CA
 *   location: string,
 *   unit?: "celsius" | "fahrenheit",
 *   }) => any;
 */
import type { ToolDefinition } from '../canonical.ts';

type Schema = Record<string, unknown>;

/** One function's lines, ending with a blank line (as inside the namespace). */
export function renderOpenAITool(tool: ToolDefinition): string {
  const lines: string[] = [];
  if (tool.description) lines.push(`// ${tool.description}`);
  const properties = propertiesOf(tool.inputSchema);
  if (properties.length > 0) {
    lines.push(`type ${tool.name} = (_: {`);
    lines.push(renderProperties(tool.inputSchema, 0));
    lines.push('}) => any;');
  } else {
    lines.push(`type ${tool.name} = () => any;`);
  }
  return lines.join('\n') + '\n\n';
}

/** The namespace around the functions (counted once per request that offers tools). */
export const openaiToolsHeader = 'namespace functions {\n\n';
export const openaiToolsFooter = '} // namespace functions';

function propertiesOf(schema: Schema): Array<[string, Schema]> {
  const properties = schema.properties;
  if (!properties || typeof properties !== 'object') return [];
  return Object.entries(properties as Record<string, unknown>).map(([name, value]) => [name, value && typeof value === 'object' ? (value as Schema) : {}]);
}

function renderProperties(schema: Schema, indent: number): string {
  const required = Array.isArray(schema.required) ? schema.required : [];
  const pad = ' '.repeat(indent);
  const lines: string[] = [];
  for (const [name, property] of propertiesOf(schema)) {
    // Descriptions of deeply nested properties are left out of the prompt.
    if (typeof property.description === 'string' && property.description !== '' && indent < 2) lines.push(`${pad}// ${property.description}`);
    lines.push(`${pad}${name}${required.includes(name) ? '' : '?'}: ${renderType(property, indent)},`);
  }
  return lines.join('\n');
}

function renderType(schema: Schema, indent: number): string {
  const values = Array.isArray(schema.enum) ? schema.enum : undefined;
  switch (schema.type) {
    case 'string':
      return values ? values.map((value) => JSON.stringify(value)).join(' | ') : 'string';
    case 'number':
    case 'integer':
      return values ? values.join(' | ') : 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'object':
      return ['{', renderProperties(schema, indent + 2), '}'].join('\n');
    case 'array':
      return schema.items && typeof schema.items === 'object' ? `${renderType(schema.items as Schema, indent)}[]` : 'any[]';
    default:
      return 'any';
  }
}
