/**
 * React elements of hook-free components, expanded to plain tags (no DOM, no react-dom): enough
 * to check what a component shows and which callbacks its buttons call.
 */
import React from 'react';

export interface Tag {
  tag: string;
  props: { [key: string]: unknown };
  children: (Tag | string)[];
}

/** Expand `node`: function components are called with their props, text is kept. */
export function expand(node: React.ReactNode): (Tag | string)[] {
  if (node === null || node === undefined || typeof node === 'boolean') {
    return [];
  }
  if (typeof node === 'string' || typeof node === 'number') {
    return [String(node)];
  }
  if (Array.isArray(node)) {
    return node.flatMap(expand);
  }
  if (!React.isValidElement(node)) {
    throw new Error(`cannot expand ${String(node)}`);
  }
  const { children, ...props } = node.props as {
    children?: React.ReactNode;
    [key: string]: unknown;
  };
  if (typeof node.type === 'function') {
    const component = node.type as (props: unknown) => React.ReactNode;
    return expand(component(node.props));
  }
  if ((node.type as unknown) === React.Fragment) {
    return expand(children);
  }
  return [{ tag: String(node.type), props, children: expand(children) }];
}

/** Every tag under `nodes` (depth first) that `match` accepts. */
export function findAll(
  under: Tag | (Tag | string)[],
  match: (tag: Tag) => boolean
): Tag[] {
  const nodes = Array.isArray(under) ? under : [under];
  return nodes.flatMap(node =>
    typeof node === 'string'
      ? []
      : [...(match(node) ? [node] : []), ...findAll(node.children, match)]
  );
}

/** Tags whose class list holds `name`. */
export function byClass(under: Tag | (Tag | string)[], name: string): Tag[] {
  return findAll(under, tag =>
    String(tag.props.className ?? '')
      .split(' ')
      .includes(name)
  );
}

/** The text under `node`, as a browser would join it. */
export function text(node: Tag | string | (Tag | string)[]): string {
  if (Array.isArray(node)) {
    return node.map(text).join('');
  }
  return typeof node === 'string' ? node : text(node.children);
}
