"""Drives a deskhand MCP URL with the official Python MCP SDK and prints one JSON summary line.

Usage: python3 mcp_sdk_client.py URL MODE   (MODE: legacy = initialize handshake, auto = try
server/discover first, as current SDK clients do)
"""

import asyncio
import json
import sys

from mcp import Client


async def main(url: str, mode: str) -> None:
    async with Client(url, mode=mode) as client:
        tools = await client.list_tools()
        names = [t.name for t in tools.tools]
        hints_explicit = all(
            t.annotations is not None
            and t.annotations.read_only_hint is not None
            and t.annotations.destructive_hint is not None
            and t.annotations.open_world_hint is not None
            for t in tools.tools
        )
        page = await client.call_tool("list_all_zoho_desk_tickets", {"limit": 2})
        first_id = page.structured_content["result"][0]["id"]
        ticket = await client.call_tool("get_single_zoho_desk_ticket_by_id", {"id": first_id})
        bad = await client.call_tool("list_all_zoho_desk_tickets", {"limit": 2, "bogus": 1})
        print(
            json.dumps(
                {
                    "tool_count": len(names),
                    "has_suggest": "zoho_desk_tickets_suggest_relevant_articles_for_ticket" in names,
                    "hints_explicit": hints_explicit,
                    "page_len": len(page.structured_content["result"]),
                    "has_cursor": bool(page.structured_content.get("next_cursor")),
                    "ticket_id": ticket.structured_content["id"],
                    "requested_id": first_id,
                    "bad_is_error": bad.is_error,
                    "bad_message": bad.structured_content["message"],
                }
            )
        )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
