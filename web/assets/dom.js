/**
 * Small DOM helpers shared by the pages. Every piece of text goes in as a text node or an
 * attribute value, never as markup, so nothing the server or a user supplies is ever parsed as HTML.
 */

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(node, attributes, children) {
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === false || value === null || value === undefined) continue;
    node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** `el('td', { class: 'num' }, '12.50')`: an HTML element with attributes and text or element children. */
export function el(tag, attributes, ...children) {
  return build(document.createElement(tag), attributes, children);
}

/** The same for SVG elements. */
export function svg(tag, attributes, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attributes, children);
}

export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page has no #${id}`);
  return node;
}

/** Replaces a node's children. */
export function fill(node, ...children) {
  node.replaceChildren();
  return build(node, undefined, children);
}

/** An instant (epoch ms) as UTC date and time, the way mdhub writes times: `2026-03-04 14:05:09 UTC`. */
export function utc(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '—';
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** The current UTC month, `YYYY-MM`. */
export function currentMonth() {
  return new Date().toISOString().slice(0, 7);
}

/** A token kept for this tab only: it survives a reload, never the tab, and never enters a URL. */
export function tokenStore(key) {
  return {
    get: () => sessionStorage.getItem(key) ?? '',
    set: (token) => sessionStorage.setItem(key, token),
    clear: () => sessionStorage.removeItem(key),
  };
}
