// md.js — a small Markdown renderer for model output. It builds DOM nodes with createElement and
// text nodes only, never innerHTML: HTML in the text (<script>, <img onerror>) stays text.
// Supported: paragraphs, line breaks, # headings, > quotes, - and 1. lists, ``` code fences
// (highlighted), `code`, **strong**, *em*, ~~strike~~, [links](https://...) (http/https only),
// tables, horizontal rules. window.gptcMarkdown = { render(text, element), highlight(code, lang) }.
'use strict';
(function () {
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  // ----- syntax highlighting: comments, strings, numbers, keywords -----
  const KW = ('if else elif for while do return break continue switch case default goto try catch ' +
    'finally throw throws raise except with as def class struct enum union typedef const static ' +
    'extern void int char float double long short unsigned signed bool auto var let function fn ' +
    'pub impl trait mod use import from export package func go defer chan select interface type ' +
    'new delete this self super null nil None true false True False and or not in is lambda yield ' +
    'async await match sizeof inline volatile register public private protected virtual override ' +
    'template typename namespace using mut ref move loop where dyn echo then fi done esac local ' +
    'begin end select insert update from where create table').split(' ');
  const KWSET = new Set(KW);
  const HASH_COMMENT = /^(py|python|sh|bash|shell|zsh|rb|ruby|yaml|yml|toml|r|perl|pl|make|makefile|dockerfile|conf|ini)$/i;
  function highlight(code, lang) {
    const frag = document.createDocumentFragment();
    const hash = HASH_COMMENT.test(lang || '');
    const re = new RegExp(
      '(\\/\\/[^\\n]*|\\/\\*[\\s\\S]*?(?:\\*\\/|$)' + (hash ? '|#[^\\n]*' : '') + ')' + // 1 comment
      '|("(?:[^"\\\\\\n]|\\\\.)*"?|\'(?:[^\'\\\\\\n]|\\\\.)*\'?|`(?:[^`\\\\]|\\\\.)*`?)' + // 2 string
      '|(\\b(?:0[xX][0-9a-fA-F]+|\\d+(?:\\.\\d+)?(?:[eE][+-]?\\d+)?)\\b)' + // 3 number
      '|([A-Za-z_][A-Za-z0-9_]*)', 'g'); // 4 word
    let last = 0, m;
    let plain = '';
    const flush = () => { if (plain) { frag.appendChild(document.createTextNode(plain)); plain = ''; } };
    while ((m = re.exec(code))) {
      plain += code.slice(last, m.index);
      last = re.lastIndex;
      let cls = null;
      if (m[1]) cls = 'hl-c';
      else if (m[2]) cls = 'hl-s';
      else if (m[3]) cls = 'hl-n';
      else if (m[4] && KWSET.has(m[4])) cls = 'hl-k';
      if (cls) { flush(); frag.appendChild(el('span', cls, m[0])); } else plain += m[0];
      if (m[0].length === 0) re.lastIndex++;
    }
    plain += code.slice(last);
    flush();
    return frag;
  }

  function codeBlock(parent, code, lang) {
    const wrap = el('div', 'codeblock');
    const pre = el('pre');
    const c = el('code');
    if (lang) c.dataset.lang = lang;
    c.appendChild(highlight(code, lang));
    pre.appendChild(c);
    if (lang) wrap.appendChild(el('span', 'lang', lang));
    const b = el('button', 'copy', 'Copy');
    b.type = 'button';
    b.setAttribute('aria-label', 'Copy the code');
    b.dataset.copy = code;
    wrap.appendChild(pre);
    wrap.appendChild(b);
    parent.appendChild(wrap);
  }

  // ----- inline -----
  const SAFE_URL = /^(https?:\/\/|mailto:)[^\s<>"]*$/i;
  function inline(text, parent, depth) {
    let buf = '';
    const flush = () => { if (buf) { parent.appendChild(document.createTextNode(buf)); buf = ''; } };
    let i = 0;
    const n = text.length;
    while (i < n) {
      const c = text[i];
      if (c === '\\' && i + 1 < n && /[\\`*_{}[\]()#+\-.!~<>|]/.test(text[i + 1])) {
        buf += text[i + 1]; i += 2; continue;
      }
      if (c === '\n') {
        flush(); parent.appendChild(el('br')); i++; continue;
      }
      if (c === '`') {
        let k = 1;
        while (text[i + k] === '`') k++;
        const fence = '`'.repeat(k);
        const j = text.indexOf(fence, i + k);
        if (j > i) {
          flush();
          let inner = text.slice(i + k, j);
          if (/^ .* $/.test(inner)) inner = inner.slice(1, -1);
          parent.appendChild(el('code', null, inner));
          i = j + k; continue;
        }
        buf += fence; i += k; continue;
      }
      if (depth < 8 && (c === '*' || c === '_' || (c === '~' && text[i + 1] === '~'))) {
        const dbl = text[i + 1] === c;
        const delim = dbl ? c + c : c;
        const start = i + delim.length;
        const prevWord = i > 0 && /\w/.test(text[i - 1]);
        if (text[start] && text[start] !== ' ' && !(c === '_' && prevWord)) {
          let j = start;
          for (;;) {
            j = text.indexOf(delim, j + 1);
            if (j < 0) break;
            if (text[j - 1] !== ' ' && !(c === '_' && /\w/.test(text[j + delim.length] || ''))
                && !(!dbl && text[j + 1] === c)) break;
          }
          if (j > start - 1 && j >= 0) {
            flush();
            const tag = c === '~' ? 'del' : dbl ? 'strong' : 'em';
            const e = el(tag);
            inline(text.slice(start, j), e, depth + 1);
            parent.appendChild(e);
            i = j + delim.length; continue;
          }
        }
        buf += delim; i += delim.length; continue;
      }
      if (c === '[') {
        const m = /^\[([^\]\n]*)\]\(([^()\s]*)\)/.exec(text.slice(i, i + 2048));
        if (m) {
          flush();
          if (SAFE_URL.test(m[2])) {
            const a = el('a');
            a.href = m[2];
            a.rel = 'noopener noreferrer nofollow';
            a.target = '_blank';
            inline(m[1] || m[2], a, depth + 1);
            parent.appendChild(a);
          } else {
            parent.appendChild(document.createTextNode(m[0]));
          }
          i += m[0].length; continue;
        }
      }
      buf += c; i++;
    }
    flush();
  }

  // ----- blocks -----
  const RE_FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)/;
  const RE_HEAD = /^ {0,3}(#{1,6})(?:\s+(.*?))?\s*#*\s*$/;
  const RE_HR = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
  const RE_QUOTE = /^ {0,3}> ?/;
  const RE_ITEM = /^( {0,3})([-*+]|\d{1,9}[.)])(\s+|$)/;
  const RE_TSEP = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;
  function startsBlock(line, next) {
    return RE_FENCE.test(line) || RE_HEAD.test(line) || RE_HR.test(line) || RE_QUOTE.test(line) ||
      RE_ITEM.test(line);
  }
  function cells(line) {
    let s = line.trim();
    if (s.startsWith('|')) s = s.slice(1);
    if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
    return s.split(/(?<!\\)\|/).map((x) => x.trim());
  }
  function blocks(lines, parent, depth) {
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      let m;
      if (/^\s*$/.test(line)) { i++; continue; }
      if ((m = RE_FENCE.exec(line))) {
        const fence = m[1];
        const body = [];
        i++;
        while (i < lines.length) {
          const t = lines[i].trim();
          if (t.startsWith(fence) && /^[`~]+$/.test(t) && t[0] === fence[0]) { i++; break; }
          body.push(lines[i]);
          i++;
        }
        codeBlock(parent, body.join('\n'), m[2]);
        continue;
      }
      if ((m = RE_HEAD.exec(line))) {
        const h = el('h' + Math.min(6, m[1].length + 1));
        inline(m[2] || '', h, 0);
        parent.appendChild(h);
        i++; continue;
      }
      if (RE_HR.test(line)) { parent.appendChild(el('hr')); i++; continue; }
      if (RE_QUOTE.test(line) && depth < 8) {
        const body = [];
        while (i < lines.length && RE_QUOTE.test(lines[i])) { body.push(lines[i].replace(RE_QUOTE, '')); i++; }
        const q = el('blockquote');
        blocks(body, q, depth + 1);
        parent.appendChild(q);
        continue;
      }
      if ((m = RE_ITEM.exec(line)) && depth < 8) {
        const ordered = /\d/.test(m[2]);
        const list = el(ordered ? 'ol' : 'ul');
        if (ordered && parseInt(m[2], 10) !== 1) list.start = parseInt(m[2], 10);
        let loose = false;
        while (i < lines.length && (m = RE_ITEM.exec(lines[i])) && /\d/.test(m[2]) === ordered) {
          const indent = m[0].length;
          const item = [lines[i].slice(indent)];
          i++;
          while (i < lines.length) {
            const l = lines[i];
            if (/^\s*$/.test(l)) {
              if (i + 1 < lines.length && /^\s{2,}\S/.test(lines[i + 1])) { item.push(''); loose = true; i++; continue; }
              break;
            }
            if (/^\s{2,}/.test(l)) { item.push(l.replace(/^\s{1,4}/, '')); i++; continue; }
            if (RE_ITEM.test(l) || startsBlock(l)) break;
            item.push(l); i++;
          }
          const li = el('li');
          if (!loose && !item.some((l) => startsBlock(l))) inline(item.join('\n'), li, 0);
          else blocks(item, li, depth + 1);
          list.appendChild(li);
          if (i < lines.length && /^\s*$/.test(lines[i]) && i + 1 < lines.length && RE_ITEM.test(lines[i + 1])) i++;
        }
        parent.appendChild(list);
        continue;
      }
      if (line.includes('|') && i + 1 < lines.length && RE_TSEP.test(lines[i + 1]) && lines[i + 1].includes('-')) {
        const table = el('table');
        const head = el('tr');
        for (const c of cells(line)) { const th = el('th'); inline(c, th, 0); head.appendChild(th); }
        const thead = el('thead'); thead.appendChild(head); table.appendChild(thead);
        const tbody = el('tbody');
        i += 2;
        while (i < lines.length && lines[i].includes('|') && !/^\s*$/.test(lines[i])) {
          const tr = el('tr');
          for (const c of cells(lines[i])) { const td = el('td'); inline(c, td, 0); tr.appendChild(td); }
          tbody.appendChild(tr);
          i++;
        }
        table.appendChild(tbody);
        parent.appendChild(table);
        continue;
      }
      const para = [];
      while (i < lines.length && !/^\s*$/.test(lines[i]) && (para.length === 0 || !startsBlock(lines[i]))) {
        para.push(lines[i].replace(/^\s+/, ''));
        i++;
      }
      const p = el('p');
      inline(para.join('\n'), p, 0);
      parent.appendChild(p);
    }
  }

  function render(text, root) {
    const frag = document.createDocumentFragment();
    blocks(String(text).replace(/\r\n?/g, '\n').split('\n'), frag, 0);
    root.replaceChildren(frag);
  }

  window.gptcMarkdown = { render, highlight };
})();
