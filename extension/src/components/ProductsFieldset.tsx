import React from 'react';

import type { FieldErrors, ProductRow } from '../metadata';
import { FieldError } from './FieldError';

interface Props {
  products: ProductRow[];
  errors: FieldErrors;
  onChange: (products: ProductRow[]) => void;
}

/** The Stage form's products: one row (name, path, remove) per product, and "Add product". */
export function ProductsFieldset({
  products,
  errors,
  onChange
}: Props): JSX.Element {
  const editRow = (i: number, change: Partial<ProductRow>): void =>
    onChange(products.map((p, j) => (j === i ? { ...p, ...change } : p)));
  return (
    <fieldset>
      <legend>Products</legend>
      {products.map((row, i) => (
        <div key={i} className="nbmlops-StageForm-product">
          <input
            name="product-key"
            aria-label="product name"
            className="jp-mod-styled"
            placeholder="name"
            value={row.key}
            onChange={e => editRow(i, { key: e.target.value })}
          />
          <input
            name="product-path"
            aria-label="product path"
            className="jp-mod-styled"
            placeholder="path, e.g. model.skops"
            value={row.path}
            onChange={e => editRow(i, { path: e.target.value })}
          />
          <button
            type="button"
            className="jp-Button jp-mod-styled jp-mod-reject"
            data-action="remove-product"
            aria-label={`remove product ${row.key}`}
            onClick={() => onChange(products.filter((_, j) => j !== i))}
          >
            ✕
          </button>
        </div>
      ))}
      <button
        type="button"
        className="jp-Button jp-mod-styled jp-mod-reject"
        data-action="add-product"
        onClick={() => onChange([...products, { key: '', path: '' }])}
      >
        Add product
      </button>
      <FieldError field="products" errors={errors} />
    </fieldset>
  );
}
