/**
 * What routing needs to know about a request, gathered in one walk over it (the same walk that
 * collects the blocks the token counter hashes, so a decision never walks the request twice).
 */
import { requestBlocks, type CanonicalRequest, type RequestBlocks } from 'router-kernel';

export interface Features {
  blocks: RequestBlocks;
  /** The latest user turn carries an image (directly or in a tool result, such as a screenshot). */
  imageInLastUserTurn: boolean;
  /** A provider-run web search tool is offered (Anthropic's `web_search_2025…`), not a client tool named so. */
  webSearch: boolean;
  toolNames: string[];
}

export function describeRequest(request: CanonicalRequest): Features {
  let lastUser = -1;
  for (let i = request.messages.length - 1; i >= 0; i--) {
    if (request.messages[i].role === 'user') {
      lastUser = i;
      break;
    }
  }
  let image = false;
  const blocks = requestBlocks(request, (part, at) => {
    if (at.message !== lastUser || image) return;
    if (part.type === 'image') image = true;
    else if (part.type === 'tool_result' && Array.isArray(part.content)) image = part.content.some((inner) => inner.type === 'image');
  });
  return {
    blocks,
    imageInLastUserTurn: image,
    // Anthropic's server tool (`web_search_2025…`), or OpenAI's `web_search_options`.
    webSearch: request.tools.some((tool) => tool.server?.type.startsWith('web_search') === true) || request.extras.web_search_options !== undefined,
    toolNames: request.tools.map((tool) => tool.name),
  };
}
